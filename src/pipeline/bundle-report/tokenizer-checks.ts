import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '@huggingface/tokenizers';
import { chatTemplates, tokenContent, type GenerationConfig, type ProcessorConfig, type TokenizerConfig } from '../../bundle/bundle-config.ts';
import { GENERATION_TEMPLATE, GROUNDING_TEMPLATE } from '../xcot-prompts.ts';
import { type BundleReport, type IssueSink, type SpecialIdsReport, type TokenRef } from './report.ts';
import { firstLine } from '../../util/first-line.ts';

/** The tokenizer's part of a bundle report: special ids, the chat templates the pipeline renders, and whether they write BOS. */

const REQUIRED_TEMPLATES = [GROUNDING_TEMPLATE, GENERATION_TEMPLATE];

export function specialIds(
  tokenizer: Tokenizer,
  generation: GenerationConfig,
  processor: ProcessorConfig,
  tokenizerConfig: TokenizerConfig,
  issue: IssueSink,
): SpecialIdsReport {
  const byId = (id: number | null): TokenRef => ({ id, token: id === null ? null : (tokenizer.id_to_token(id) ?? null) });
  const byText = (text: string | undefined, file: string, field: string): TokenRef => {
    if (!text) return { id: null, token: null };
    const id = tokenizer.token_to_id(text);
    if (id === undefined) {
      issue('error', 'tokenizer.json', `has no token ${text} (${file} ${field})`, `use the tokenizer.json that came with the bundle, or set ${field} in ${file} to a token it has`);
      return { id: null, token: text };
    }
    return { id, token: text };
  };
  const eos = Array.isArray(generation.eos_token_id) ? generation.eos_token_id[0] : generation.eos_token_id;
  const tokenizerPad = byText(tokenContent(tokenizerConfig.pad_token) ?? undefined, 'tokenizer_config.json', 'pad_token');
  const cfgPad = generation.pad_token_id !== undefined
    ? { ...byId(generation.pad_token_id), source: 'generation_config.pad_token_id' }
    : { ...tokenizerPad, source: "no generation_config.pad_token_id: the tokenizer's pad_token" };
  if (cfgPad.id === null) {
    // The hint names the id this bundle's tokenizer.json gives the official pad tag, never a remembered one.
    const tag = processor.pad_tag ?? OFFICIAL_PAD_TAG;
    const padId = tokenizer.token_to_id(tag);
    issue('error', 'generation_config.json', 'no pad id for the unconditional CFG row', padId === undefined
      ? `set pad_token_id to the id of the pad token the model was trained with (tokenizer.json has no ${tag})`
      : `set pad_token_id to ${padId} (${tag} in this bundle's tokenizer.json)`);
  }
  const ids = {
    bos: byId(generation.bos_token_id),
    eos: byId(eos),
    cfgPad,
    tokenizerPad,
    imageStart: byText(processor.image_start_tag, 'processor_config.json', 'image_start_tag'),
    imageEnd: byText(processor.image_end_tag, 'processor_config.json', 'image_end_tag'),
    imagePlaceholder: byText(processor.image_tag, 'processor_config.json', 'image_tag'),
  };
  for (const [name, ref] of [['bos_token_id', ids.bos], ['eos_token_id', ids.eos], ['pad_token_id', ids.cfgPad]] as const) {
    if (ref.id !== null && ref.token === null) {
      issue('warning', 'generation_config.json', `${name} ${ref.id} names no token in tokenizer.json`, 'use the generation_config.json and tokenizer.json of the same repository revision');
    }
  }
  return ids;
}

export function templates(raw: unknown, issue: IssueSink): BundleReport['chatTemplates'] {
  const t = (raw as { chat_template?: unknown } | null)?.chat_template;
  let found: [string, unknown][] = [];
  let form: BundleReport['chatTemplates']['form'] = 'none';
  if (typeof t === 'string') {
    found = [['default', t]];
    form = 'string';
  } else if (Array.isArray(t)) {
    found = t.map((x: { name?: unknown; template?: unknown }) => [String(x?.name), x?.template]);
    form = 'list';
  } else if (t && typeof t === 'object') {
    found = Object.entries(t);
    form = 'object';
  }
  if (raw === null) return { names: [], form }; // the file itself is reported already
  for (const [name, text] of found) {
    try {
      if (typeof text !== 'string') throw new Error('not a string');
      new Template(text);
    } catch (err) {
      issue('error', 'tokenizer_config.json', `chat template "${name}" does not parse: ${firstLine(err, 300)}`, 're-download tokenizer_config.json');
    }
  }
  const names = found.map(([n]) => n);
  for (const need of REQUIRED_TEMPLATES) {
    if (!names.includes(need)) {
      issue('error', 'tokenizer_config.json', `has no chat template named "${need}" (the pipeline renders grounding with "${GROUNDING_TEMPLATE}" and generation with "${GENERATION_TEMPLATE}")`,
        'use the tokenizer_config.json of onnx-community/Janus-Pro-1B-ONNX, whose chat_template holds both');
    }
  }
  return { names, form };
}

/** VLChatProcessor's default pad_tag (deepseek-ai/Janus processing_vlm.py). */
const OFFICIAL_PAD_TAG = '<｜▁pad▁｜>';

/** Which of the pipeline's templates write BOS first: each rendered with one user turn and encoded as transformers.js does. */
export function templateBos(raw: unknown, tokenizer: Tokenizer, tokenizerConfig: TokenizerConfig, bos: number): { writes: string[]; omits: string[] } {
  const out = { writes: [] as string[], omits: [] as string[] };
  let all: Map<string, string>;
  try {
    all = chatTemplates(raw as TokenizerConfig);
  } catch {
    return out;
  }
  const specials = Object.fromEntries((['bos_token', 'eos_token', 'pad_token'] as const).map((k) => [k, tokenContent(tokenizerConfig[k]) ?? undefined]));
  for (const name of REQUIRED_TEMPLATES) {
    const text = all.get(name);
    if (text === undefined) continue;
    try {
      const rendered = new Template(text).render({ messages: [{ role: '<|User|>', content: 'x' }], add_generation_prompt: true, ...specials });
      (tokenizer.encode(rendered, { add_special_tokens: false }).ids[0] === bos ? out.writes : out.omits).push(name);
    } catch {
      // A template that does not render is reported by templates().
    }
  }
  return out;
}
