import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { chatTemplates, tokenContent } from '../bundle/bundle-config.ts';
import type { Bundle } from '../bundle/load-bundle.ts';
import { BundleError } from '../errors.ts';
import { findReservedToken, reservedTokens } from './user-text.ts';
import { firstLine } from '../util/first-line.ts';

/** VLChatProcessor's default pad_tag (deepseek-ai/Janus janus/models/processing_vlm.py): its pad_id. */
const OFFICIAL_PAD_TAG = '<｜▁pad▁｜>';

export interface ChatMessage {
  role: string;
  content: string;
}

/** Token ids with, per position, whether an image feature goes there. */
export interface EncodedPrompt {
  ids: number[];
  imageMask: Uint8Array;
}

/**
 * The bundle's tokenizer and chat templates, and the VLChatProcessor rule for images: each image
 * tag becomes <begin_of_image>, num_image_tokens placeholders, <end_of_image>.
 */
export class ChatTokenizer {
  readonly bos: number;
  readonly eos: number;
  /**
   * The id the unconditional CFG row is filled with: generation_config.json pad_token_id, else the
   * processor's pad tag (VLChatProcessor's default <｜▁pad▁｜>, 100015 in the public export). Not the
   * tokenizer's own pad_token, which in Janus is another token (100002).
   */
  readonly pad: number;
  private readonly tokenizer: Tokenizer;
  private readonly templates: Map<string, Template>;
  private readonly specials: Record<string, string>;
  private readonly imageTag: string;
  private readonly imageStart: number;
  private readonly imageEnd: number;
  private readonly imagePlaceholder: number;
  private readonly imageTokens: number;
  private readonly specialTokens: string[];

  constructor(private readonly bundle: Bundle) {
    try {
      this.tokenizer = new Tokenizer(bundle.tokenizerJson, bundle.tokenizerConfig);
    } catch (err) {
      throw new BundleError('tokenizer_invalid', `tokenizer.json in ${bundle.dir} cannot be loaded: ${firstLine(err)}`);
    }
    try {
      this.templates = new Map([...chatTemplates(bundle.tokenizerConfig)].map(([k, v]) => [k, new Template(v)]));
    } catch (err) {
      throw new BundleError('template_invalid', `a chat template in tokenizer_config.json does not parse: ${firstLine(err)}`);
    }
    const cfg = bundle.tokenizerConfig;
    this.specials = Object.fromEntries(
      (['bos_token', 'eos_token', 'pad_token'] as const)
        .map((k) => [k, tokenContent(cfg[k])])
        .filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    const p = bundle.processor;
    this.imageTag = p.image_tag;
    this.imageTokens = p.num_image_tokens;
    this.imagePlaceholder = this.requireId(p.image_tag);
    this.imageStart = this.requireId(p.image_start_tag);
    this.imageEnd = this.requireId(p.image_end_tag);
    this.specialTokens = reservedTokens(bundle.tokenizerJson, cfg, p);
    const g = bundle.generation;
    this.bos = g.bos_token_id;
    this.eos = Array.isArray(g.eos_token_id) ? g.eos_token_id[0] : g.eos_token_id;
    this.pad = g.pad_token_id ?? this.requireId(p.pad_tag ?? OFFICIAL_PAD_TAG);
  }

  /** Throws a BundleError unless every named template exists. */
  requireTemplates(names: string[]): void {
    for (const name of names) {
      if (!this.templates.has(name)) throw new BundleError('template_missing', `tokenizer_config.json has no chat template named "${name}".`);
    }
  }

  /** Every string user text must not contain (see reservedTokens in user-text.ts). */
  get reservedTokens(): readonly string[] {
    return this.specialTokens;
  }

  /** The first reserved token that `text` contains, if any: user text must not inject them. */
  findSpecialToken(text: string): string | undefined {
    return findReservedToken(text, this.specialTokens);
  }

  render(templateName: string, messages: ChatMessage[]): string {
    const template = this.templates.get(templateName);
    if (!template) throw new BundleError('template_missing', `tokenizer_config.json has no chat template named "${templateName}".`);
    return template.render({ messages, add_generation_prompt: true, ...this.specials });
  }

  /**
   * A prompt row as the official recipe builds it (deepseek-ai/Janus processing_vlm.py encodes the
   * rendered conversation with the tokenizer's default, which adds BOS): the rendered template,
   * encoded, starting with BOS exactly once whether or not the template writes it. transformers.js
   * encodes without special tokens, so on a template that does not write BOS it feeds no BOS.
   */
  prompt(templateName: string, messages: ChatMessage[], imageCount: number): EncodedPrompt {
    return this.withBos(this.encode(this.render(templateName, messages), imageCount));
  }

  /** Whether the named template itself writes BOS first (else prompt() adds it). */
  templateWritesBos(templateName: string): boolean {
    return this.encode(this.render(templateName, [{ role: '<|User|>', content: 'x' }]), 0).ids[0] === this.bos;
  }

  private withBos(prompt: EncodedPrompt): EncodedPrompt {
    let skip = 0;
    while (prompt.ids[skip] === this.bos) skip++;
    if (skip === 1) return prompt;
    const ids = [this.bos, ...prompt.ids.slice(skip)];
    const imageMask = new Uint8Array(ids.length);
    imageMask.set(prompt.imageMask.subarray(skip), 1);
    return { ids, imageMask };
  }

  /** Encodes rendered text without adding special tokens (the template already has them). */
  encode(text: string, imageCount: number): EncodedPrompt {
    const parts = text.split(this.imageTag);
    if (parts.length - 1 !== imageCount) {
      throw new Error(`prompt has ${parts.length - 1} image tags for ${imageCount} images`);
    }
    const ids: number[] = [];
    const mask: number[] = [];
    parts.forEach((part, i) => {
      if (i > 0) {
        ids.push(this.imageStart, ...new Array(this.imageTokens).fill(this.imagePlaceholder), this.imageEnd);
        mask.push(0, ...new Array(this.imageTokens).fill(1), 0);
      }
      const encoded = this.tokenizer.encode(part, { add_special_tokens: false }).ids;
      ids.push(...encoded);
      mask.push(...new Array(encoded.length).fill(0));
    });
    return { ids, imageMask: Uint8Array.from(mask) };
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }

  private requireId(token: string): number {
    const id = this.tokenizer.token_to_id(token);
    if (id === undefined) throw new BundleError('tokenizer_invalid', `tokenizer.json has no token ${token}.`);
    return id;
  }
}
