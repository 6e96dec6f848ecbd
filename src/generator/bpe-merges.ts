/**
 * BPE training shared by the fixture tokenizers (bpe-tokenizer.ts, scorers/clip-tokenizer.ts): the
 * GPT-2 byte table and the merge loop. Deterministic: each merge is the most frequent adjacent pair,
 * ties broken by the pair's text (first symbol, then second).
 */

/** One pre-tokenized word of the corpus: its symbols (byte characters, maybe with a suffix) and how often it occurs. */
export interface BpeWord {
  symbols: readonly string[];
  count: number;
}

/**
 * Up to mergeCount merges learned from the words (fewer when no adjacent pair is left), in the order
 * they were learned. Symbols must not contain characters at or below U+0020 (byte-level symbols never do):
 * pairs are compared as one string joined by U+0000, which then orders them as (first, second).
 */
export function learnBpeMerges(words: Iterable<BpeWord>, mergeCount: number): [string, string][] {
  let split = [...words].map(({ symbols, count }) => ({ parts: [...symbols], n: count }));
  const merges: [string, string][] = [];
  while (merges.length < mergeCount) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of split) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]}\u0000${parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | null = null;
    let bestCount = 0;
    for (const [k, c] of pairs) {
      if (c > bestCount || (c === bestCount && best !== null && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === null) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    split = split.map(({ parts, n }) => ({ parts: mergePair(parts, a, b), n }));
  }
  return merges;
}

function mergePair(parts: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
      out.push(a + b);
      i++;
    } else {
      out.push(parts[i]);
    }
  }
  return out;
}

/**
 * GPT-2's reversible byte -> printable character table used by ByteLevel, in its insertion order:
 * the printable bytes first, then the others (CLIP's vocabulary starts in this order).
 */
export function bytesToUnicode(): Map<number, string> {
  const table = new Map<number, string>();
  const printable: number[] = [];
  for (let c = 33; c <= 126; c++) printable.push(c);
  for (let c = 161; c <= 172; c++) printable.push(c);
  for (let c = 174; c <= 255; c++) printable.push(c);
  for (const c of printable) table.set(c, String.fromCharCode(c));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!table.has(b)) table.set(b, String.fromCharCode(256 + extra++));
  return table;
}
