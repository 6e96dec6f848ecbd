import { ProcessorConfigSchema, TokenizerConfigSchema, tokenContent, type ProcessorConfig, type TokenizerConfig } from '../bundle/bundle-config.ts';
import { readBundleJson } from '../bundle/load-bundle.ts';
import { InputError } from '../errors.ts';
import { isBlankText } from '../util/visible-text.ts';

/**
 * Rules for text users type (prompts, subject names and contexts), shared by the pipeline (which
 * refuses it when a job runs) and the bot's commands (which refuse it before anything is stored or
 * queued): no reserved model tokens, and something visible.
 */

/**
 * The strings user text must not contain: the tokenizer's special added tokens (and added tokens
 * shaped like a tag, `<...>`), its bos/eos/pad and additional special tokens, and the processor's
 * image tags. Any of them in a prompt would be encoded as the control token itself.
 */
export function reservedTokens(tokenizerJson: unknown, tokenizerConfig: TokenizerConfig, processor?: Partial<ProcessorConfig>): string[] {
  const out = new Set<string>();
  const added = (tokenizerJson as { added_tokens?: unknown } | null)?.added_tokens;
  if (Array.isArray(added)) {
    for (const t of added as { content?: unknown; special?: unknown }[]) {
      if (typeof t?.content !== 'string' || !t.content) continue;
      if (t.special === true || /^<.+>$/su.test(t.content)) out.add(t.content);
    }
  }
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const) {
    const content = tokenContent((tokenizerConfig as Record<string, TokenizerConfig['bos_token']>)[key]);
    if (content) out.add(content);
  }
  const extra = (tokenizerConfig as { additional_special_tokens?: unknown }).additional_special_tokens;
  if (Array.isArray(extra)) for (const t of extra) if (typeof t === 'string' && t) out.add(t);
  for (const tag of [processor?.image_tag, processor?.image_start_tag, processor?.image_end_tag, processor?.pad_tag]) if (tag) out.add(tag);
  // Longest first, so the one named is the whole token (<|/ref|> rather than a shorter one inside it).
  return [...out].sort((a, b) => b.length - a.length);
}

/** The first reserved token in `text`, as typed or once compatibility-normalized (full-width look-alikes). */
export function findReservedToken(text: string, tokens: readonly string[]): string | undefined {
  const nfkc = text.normalize('NFKC');
  return tokens.find((t) => text.includes(t) || nfkc.includes(t.normalize('NFKC')));
}

/** Throws InputError('reserved_token') when a field contains a reserved token; returns `fields`. */
export function assertNoReservedTokens<T extends Record<string, string | undefined>>(fields: T, tokens: readonly string[]): T {
  for (const [field, text] of Object.entries(fields)) {
    const token = text ? findReservedToken(text, tokens) : undefined;
    if (token) throw new InputError('reserved_token', `The ${field} can't contain ${token}: the model reserves it.`);
  }
  return fields;
}

/**
 * The checks the bot runs on typed text before storing or queueing anything. `fields` maps a label
 * (prompt, name, context) to the text; undefined or whitespace-only means "not given". Given text
 * must have a visible character and no reserved token; `required` fields must be given.
 */
export class UserTextRules {
  constructor(readonly reserved: readonly string[]) {}

  /** Reads the reserved tokens from the bundle's tokenizer.json, tokenizer_config.json and processor_config.json. */
  static fromBundle(dir: string): UserTextRules {
    const tokenizerJson = readBundleJson(dir, 'tokenizer.json', null);
    const tokenizerConfig = readBundleJson(dir, 'tokenizer_config.json', TokenizerConfigSchema);
    const processor = readBundleJson(dir, 'processor_config.json', ProcessorConfigSchema);
    return new UserTextRules(reservedTokens(tokenizerJson, tokenizerConfig, processor));
  }

  /** Throws InputError (blank_text, reserved_token) for the first field that breaks a rule. */
  check(fields: Record<string, string | null | undefined>, options: { required?: string[] } = {}): void {
    assertUserText(fields, this.reserved, options);
  }
}

/**
 * The text rules on their own, for callers that hold the reserved tokens already (the pipeline, the
 * CLI through UserTextRules): every given field has a visible character and no reserved token.
 */
export function assertUserText(fields: Record<string, string | null | undefined>, reserved: readonly string[], { required = [] }: { required?: string[] } = {}): void {
  for (const [field, text] of Object.entries(fields)) {
    const given = typeof text === 'string' && text.trim() !== '';
    if (!given) {
      if (required.includes(field)) throw new InputError('blank_text', `The ${field} is empty.`);
      continue;
    }
    if (isBlankText(text)) throw new InputError('blank_text', `The ${field} has no visible characters.`);
    assertNoReservedTokens({ [field]: text }, reserved);
  }
}

