/**
 * A tokenizer.json in the form of openai/clip-vit-base-patch32's (as Xenova/clip-vit-base-patch32
 * ships it): NFC + whitespace collapse + lowercase, CLIP's split regex then ByteLevel, a BPE with
 * end_of_word_suffix "</w>", RobertaProcessing with <|startoftext|> / <|endoftext|>. The vocabulary
 * is laid out as CLIP's: the 256 byte symbols, the same with "</w>", the merges, then the two
 * specials last, so <|endoftext|> is the largest id (the text tower pools at the largest id).
 * Merges are trained at generation time on a small corpus; deterministic.
 */

const CLIP_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

const CORPUS = `
a photo of a dog wearing a space suit on the moon. a red backpack on a mountain at sunrise.
a cat sleeping on a sofa next to the window, watercolor painting. the mug on a wooden table.
a teddy bear swimming in the pool, cinematic light. a toy robot in the snow, 4k photo.
a dog in a bucket, a dog on the beach, a dog with a red collar in the park.
`;

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';

export interface ClipTokenizerFiles {
  tokenizerJson: object;
  vocabSize: number;
  bosId: number;
  eosId: number;
}

export function buildClipTokenizer(mergeCount: number): ClipTokenizerFiles {
  const byteChars = bytesToUnicode();
  const base = [...byteChars.values()];
  const vocab = new Map<string, number>();
  for (const s of base) vocab.set(s, vocab.size);
  for (const s of base) vocab.set(`${s}</w>`, vocab.size);

  const encoder = new TextEncoder();
  const words = new Map<string, number>();
  const text = CORPUS.normalize('NFC').replace(/\s+/g, ' ').toLowerCase();
  for (const m of text.matchAll(new RegExp(CLIP_SPLIT, 'gu'))) {
    const symbols = Array.from(encoder.encode(m[0]), (x) => byteChars.get(x)!);
    symbols[symbols.length - 1] += '</w>';
    const key = symbols.join('\u0000');
    words.set(key, (words.get(key) ?? 0) + 1);
  }
  let split = [...words].map(([w, n]) => ({ parts: w.split('\u0000'), n }));
  const merges: string[] = [];
  while (merges.length < mergeCount) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of split) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
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
    const [a, b] = best.split(' ');
    merges.push(best);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    split = split.map(({ parts, n }) => ({ parts: mergePair(parts, a, b), n }));
  }
  const bosId = vocab.size;
  vocab.set(CLIP_BOS, bosId);
  const eosId = vocab.size;
  vocab.set(CLIP_EOS, eosId);

  const added = (id: number, content: string, normalized: boolean) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(bosId, CLIP_BOS, true), added(eosId, CLIP_EOS, false)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [CLIP_EOS, eosId], cls: [CLIP_BOS, bosId], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  return { tokenizerJson, vocabSize: vocab.size, bosId, eosId };
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

/** GPT-2's byte -> printable character table, in its insertion order (CLIP's vocabulary starts with it). */
function bytesToUnicode(): Map<number, string> {
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
