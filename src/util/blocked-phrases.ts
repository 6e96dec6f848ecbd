/**
 * A server's blocked words and phrases, matched case-insensitively on normalized text: compatibility
 * forms folded (NFKC: full-width and styled letters become plain ones), accents dropped, invisible
 * characters removed, and every run of non-letters and non-digits made one space. A phrase matches
 * whole words only ("cat" does not match "concatenate"), so spacing a word out ("c a t") or gluing it
 * to another ("supercat") gets past it: this is a filter for the obvious, not a moderation system.
 */
export function normalizeForMatch(text: string): string {
  return String(text ?? '')
    .normalize('NFKC')
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[\p{Cf}\u3164\u115f\u1160\uffa0]+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The first blocked phrase found in any of `texts`, as the server wrote it; undefined when none. */
export function findBlockedPhrase(texts: (string | null | undefined)[], phrases: readonly string[]): string | undefined {
  if (phrases.length === 0) return undefined;
  const haystacks = texts.filter((t): t is string => typeof t === 'string' && t.length > 0).map((t) => ` ${normalizeForMatch(t)} `);
  for (const phrase of phrases) {
    const needle = normalizeForMatch(phrase);
    if (needle && haystacks.some((h) => h.includes(` ${needle} `))) return phrase;
  }
  return undefined;
}
