/**
 * Text lengths as Discord counts them (Unicode code points, not UTF-16 units: an emoji outside the
 * basic plane is one character, not two) and cuts that never split a character or a grapheme
 * cluster (a flag, a skin-toned or ZWJ emoji, a letter with its combining marks).
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The number of characters Discord counts in `text`. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** The longest start of `text` of at most `max` characters that ends on a grapheme boundary. */
export function cutToChars(text: string, max: number): string {
  if (max <= 0) return '';
  if (charCount(text) <= max) return text;
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const size = charCount(segment);
    if (used + size > max) break;
    out += segment;
    used += size;
  }
  return out;
}

/** `text` if it has at most `max` characters, else its start (trailing space removed) and an ellipsis, `max` in all. */
export function truncateChars(text: string, max: number): string {
  if (charCount(text) <= max) return text;
  if (max <= 0) return '';
  return `${cutToChars(text, max - 1).trimEnd()}…`;
}

/** `text` split into grapheme clusters. */
export function graphemesOf(text: string): string[] {
  return Array.from(graphemes.segment(text), (s) => s.segment);
}
