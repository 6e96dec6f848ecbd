/**
 * A real byte-level BPE tokenizer.json (the format of Hugging Face tokenizers), trained at generation
 * time on a small built-in corpus so fixture bundles need no download. Deterministic: merges are
 * chosen by count, ties broken by the pair's text.
 */

import { bytesToUnicode, learnBpeMerges, type BpeWord } from './bpe-merges.ts';

/** GPT-2's pre-tokenization pattern (the ByteLevel pre-tokenizer's use_regex). */
const WORD_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const CORPUS = `
a photo of a dog sitting on the grass in the park. the dog has brown fur, floppy ears and a red collar.
a mug with a blue handle on a wooden table, next to a window with morning light.
a portrait of a person with short hair and glasses, smiling at the camera.
the subject is a small cat with white paws and green eyes, sleeping on a sofa.
generate an image of the same dog wearing a space suit on the moon, cinematic lighting.
describe what makes this subject unique: its color, shape, texture, markings and accessories.
a teddy bear on a beach at sunset, watercolor painting style, high detail.
the backpack is black with orange zippers and a small logo on the front pocket.
draw the mug floating in a coffee shop, studio photo, soft shadows, 4k.
this is my dog rex. he is a golden retriever with a white patch on his chest.
`;

export interface SpecialToken {
  content: string;
  special: boolean;
}

export interface TokenizerJsonResult {
  json: object;
  /** id of each special token, by content. */
  specialIds: Map<string, number>;
  size: number;
}

export function buildBpeTokenizer(mergeCount: number, specials: SpecialToken[], specialBase = 0): TokenizerJsonResult {
  const byteChars = bytesToUnicode();
  const vocab = new Map<string, number>();
  for (let b = 0; b < 256; b++) vocab.set(byteChars.get(b)!, b);

  const words = new Map<string, BpeWord>();
  const encoder = new TextEncoder();
  for (const m of CORPUS.matchAll(WORD_PATTERN)) {
    const word = words.get(m[0]);
    if (word) word.count++;
    else words.set(m[0], { symbols: Array.from(encoder.encode(m[0]), (x) => byteChars.get(x)!), count: 1 });
  }
  const merges = learnBpeMerges(words.values(), mergeCount);
  for (const [a, b] of merges) vocab.set(a + b, vocab.size);

  const specialIds = new Map<string, number>();
  const first = Math.max(vocab.size, specialBase);
  const addedTokens = specials.map((s) => {
    const id = first + specialIds.size;
    specialIds.set(s.content, id);
    return { id, content: s.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: s.special };
  });

  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  return { json, specialIds, size: first + specials.length };
}
