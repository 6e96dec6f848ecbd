/**
 * A tokenizer.json in the form of openai/clip-vit-base-patch32's (as Xenova/clip-vit-base-patch32
 * ships it): NFC + whitespace collapse + lowercase, CLIP's split regex then ByteLevel, a BPE with
 * end_of_word_suffix "</w>", RobertaProcessing with <|startoftext|> / <|endoftext|>. The vocabulary
 * is laid out as CLIP's: the 256 byte symbols, the same with "</w>", the merges, then the two
 * specials last, so <|endoftext|> is the largest id (the text tower pools at the largest id).
 * Merges are trained at generation time on a small corpus; deterministic.
 */

import { bytesToUnicode, learnBpeMerges, type BpeWord } from '../bpe-merges.ts';

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
  const words = new Map<string, BpeWord>();
  const text = CORPUS.normalize('NFC').replace(/\s+/g, ' ').toLowerCase();
  for (const m of text.matchAll(new RegExp(CLIP_SPLIT, 'gu'))) {
    const word = words.get(m[0]);
    if (word) {
      word.count++;
      continue;
    }
    const symbols = Array.from(encoder.encode(m[0]), (x) => byteChars.get(x)!);
    symbols[symbols.length - 1] += '</w>';
    words.set(m[0], { symbols, count: 1 });
  }
  const merges = learnBpeMerges(words.values(), mergeCount).map(([a, b]) => {
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    return `${a} ${b}`;
  });
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
