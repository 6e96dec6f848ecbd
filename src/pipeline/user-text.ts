import { ProcessorConfigSchema, TokenizerConfigSchema, tokenContent, type ProcessorConfig, type TokenizerConfig } from '../bundle/bundle-config.ts';
import { readBundleJson } from '../bundle/load-bundle.ts';
import { InputError } from '../errors.ts';

/**
 * Rules for text users type (prompts, subject names and contexts), shared by the pipeline (which
 * refuses it when a job runs) and the bot's commands (which refuse it before anything is stored or
 * queued): no reserved model tokens, and something visible.
 */

/**
 * Characters that show nothing: controls, format characters (zero-width space / joiner, BOM, bidi
 * marks), every kind of space, default-ignorables (Hangul fillers U+115F U+1160 U+3164 U+FFA0,
 * variation selectors, ...) and the blank braille pattern U+2800.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/** `text` without its invisible characters. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, '');
}

/** Whether nothing is left of `text` once invisible characters are removed. */
export function isBlankText(text: string): boolean {
  return visibleText(text).length === 0;
}

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
  check(fields: Record<string, string | null | undefined>, { required = [] }: { required?: string[] } = {}): void {
    for (const [field, text] of Object.entries(fields)) {
      const given = typeof text === 'string' && text.trim() !== '';
      if (!given) {
        if (required.includes(field)) throw new InputError('blank_text', `The ${field} is empty.`);
        continue;
      }
      if (isBlankText(text)) throw new InputError('blank_text', `The ${field} has no visible characters.`);
      assertNoReservedTokens({ [field]: text }, this.reserved);
    }
  }
}

/**
 * Letters of other scripts that pass for a Latin one, in either case (mapped before casefolding, so
 * Cyrillic Р stays a P and Greek Μ an M). Lower-case Cyrillic в к м н т look like small capitals.
 */
const HOMOGLYPHS: Record<string, string> = {
  // Cyrillic
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', У: 'Y', Х: 'X', Ѕ: 'S', І: 'I', Ј: 'J',
  Ԛ: 'Q', Ԝ: 'W', Ӏ: 'I', Һ: 'H', Ү: 'Y',
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', п: 'n', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', ь: 'b', ѕ: 's',
  і: 'i', ј: 'j', һ: 'h', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l', ү: 'y',
  // Greek
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X', Ϲ: 'C',
  α: 'a', γ: 'y', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', ς: 'c', υ: 'u', χ: 'x', ω: 'w', ϲ: 'c', ϳ: 'j',
  // Latin look-alikes
  ı: 'i', ȷ: 'j', ɡ: 'g', ɑ: 'a', ß: 'ss',
};

/**
 * The confusable skeleton of a name: NFKC, common Cyrillic / Greek homoglyphs mapped to the Latin
 * letter they look like, casefolded, without invisible or format characters (a zero-width joiner
 * inserted makes no new name), spaces collapsed. Two names with one skeleton look the same.
 */
export function nameSkeleton(name: string): string {
  const mapped = [...name.normalize('NFKC')].map((c) => HOMOGLYPHS[c] ?? c).join('');
  return mapped
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '')
    .replace(/[\s\u2800]+/gu, ' ')
    .trim();
}
