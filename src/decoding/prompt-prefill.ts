import { createHash } from 'node:crypto';
import ort from 'onnxruntime-node';
import type { JanusModel, KvCache, PixelBatch } from '../model/janus-model.ts';
import { pickRows, stackRows } from '../model/hidden-rows.ts';
import { kvGather, kvStack } from '../model/kv-rows.ts';
import { CancelledError } from '../errors.ts';
import { imageKeys } from './image-keys.ts';
import type { PromptCaches } from './prompt-caches.ts';

/** One row of a prompt batch. All rows of a call have the same length. */
export interface PromptRow {
  ids: number[];
  /** 1 where an image feature goes; the batch's images fill these positions in order. */
  imageMask: Uint8Array;
  /** Attention over the prompt: true normally, false for transformers.js' unconditional row. */
  attended: boolean;
}

/** The prompt run through the decoder: last position's hidden [R, 1, H], the KV cache, the mask [R, L]. */
export interface Prefilled {
  hidden: ort.Tensor;
  cache: KvCache;
  mask: BigInt64Array;
}

export interface PrefillOptions {
  /** Keep newly computed prefixes in the cache (lookups happen either way). */
  storePrefix?: boolean;
  signal?: AbortSignal;
  /**
   * Where attended rows are split (default: after the last image). The self-judge splits after
   * the subject's photos, so the prefix grounding stored is found again with a candidate after it.
   */
  split?: number;
}

/**
 * Runs a prompt batch through the decoder, reusing what a known subject allows.
 *
 * An attended row is always run in two parts, split after its last image: the prefix (template
 * head and photos) alone at batch 1, then the rest of the prompt for all rows together. The prefix
 * KV is looked up first (same ids, same photos: same KV), so a repeat prompt on a known subject
 * skips the vision encoder and the prefix. Because the split is the same on a hit and a miss,
 * a cached run gives the very same numbers as a cold one. Each photo's features are computed on
 * their own and cached too (grounding then generation of a new subject encodes each photo once).
 *
 * A row with attention 0 everywhere (transformers.js' unconditional row) is run whole: with every
 * key masked its attention averages all of them, so splitting it would change what it computes.
 */
export async function prefillPrompt(
  model: JanusModel,
  caches: PromptCaches,
  rows: PromptRow[],
  images: PixelBatch | null,
  options: PrefillOptions = {},
): Promise<Prefilled> {
  const len = rows[0].ids.length;
  if (rows.some((r) => r.ids.length !== len || r.imageMask.length !== len)) throw new RangeError('prefillPrompt: rows differ in length');
  const mask = new BigInt64Array(rows.length * len);
  rows.forEach((r, i) => mask.fill(r.attended ? 1n : 0n, i * len, (i + 1) * len));
  const features = new ImageFeatures(model, caches, images);
  const split = options.split ?? prefixLength(rows);

  const attended = rows.flatMap((r, i) => (r.attended && split > 0 ? [i] : []));
  const whole = rows.flatMap((r, i) => (r.attended && split > 0 ? [] : [i]));
  const groups: { rows: number[]; hidden: ort.Tensor; cache: KvCache }[] = [];

  if (attended.length > 0) {
    const prefixes: KvCache[] = [];
    for (const i of attended) {
      checkAborted(options.signal);
      prefixes.push(await prefix(model, caches, features, rows[i], split, options));
    }
    checkAborted(options.signal);
    const rest = await Promise.all(attended.map((i) => embedRange(model, features, rows[i], split, len)));
    const past = prefixes.length === 1 ? prefixes[0] : kvStack(prefixes);
    groups.push({ rows: attended, ...(await model.decode(stackRows(rest), past, rowsOf(mask, len, attended))) });
  }
  if (whole.length > 0) {
    checkAborted(options.signal);
    const embeds = await Promise.all(whole.map((i) => embedRange(model, features, rows[i], 0, len)));
    groups.push({ rows: whole, ...(await model.decode(stackRows(embeds), model.emptyCache(whole.length), rowsOf(mask, len, whole))) });
  }
  // One group holds every row in order: use it as it is (KV caches are large; copy only when needed).
  if (groups.length === 1) return { hidden: groups[0].hidden, cache: groups[0].cache, mask };
  const source = rows.map((_, i) => {
    const g = groups.find((x) => x.rows.includes(i))!;
    return { group: g, row: g.rows.indexOf(i) };
  });
  return {
    hidden: stackRows(source.map((x) => pickRows(x.group.hidden, [x.row]))),
    cache: kvGather(source.map((x) => ({ cache: x.group.cache, row: x.row }))),
    mask,
  };
}

/** Where attended rows are split: just after the last image of any row; 0 (no split) without images. */
export function prefixLength(rows: PromptRow[]): number {
  let end = 0;
  for (const r of rows) {
    const last = r.imageMask.lastIndexOf(1);
    // +2: the placeholder, then <end_of_image>.
    if (last >= 0) end = Math.max(end, last + 2);
  }
  const len = rows[0].ids.length;
  return end > 0 && end < len ? end : 0;
}

async function prefix(model: JanusModel, caches: PromptCaches, features: ImageFeatures, row: PromptRow, split: number, options: PrefillOptions): Promise<KvCache> {
  const key = prefixKey(row, split, features.keysBefore(row, split));
  const hit = caches.getPrefix(key);
  if (hit) return hit;
  const embeds = await embedRange(model, features, row, 0, split);
  const out = await model.decode(embeds, model.emptyCache(1), new BigInt64Array(split).fill(1n));
  if (options.storePrefix !== false) caches.setPrefix(key, out.cache);
  return out.cache;
}

function prefixKey(row: PromptRow, split: number, photos: string[]): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(Int32Array.from(row.ids.slice(0, split)).buffer));
  h.update(row.imageMask.subarray(0, split));
  h.update(photos.join(','));
  return h.digest('base64url');
}

/** Embeddings [1, to - from, H] of row positions from..to: token embeddings with image features spliced in. */
async function embedRange(model: JanusModel, features: ImageFeatures, row: PromptRow, from: number, to: number): Promise<ort.Tensor> {
  const ids = BigInt64Array.from(row.ids.slice(from, to), BigInt);
  const embeds = await model.embed(ids, 1, new Uint8Array(to - from), 1, null);
  const data = embeds.data as Float32Array;
  const hidden = model.shape.hidden;
  const perImage = model.shape.imageTokens;
  let image = countOnes(row.imageMask, 0, from);
  for (let p = from; p < to; ) {
    if (!row.imageMask[p]) {
      p++;
      continue;
    }
    const feats = await features.of(Math.floor(image / perImage));
    const offset = image % perImage;
    const n = Math.min(perImage - offset, to - p);
    data.set(feats.subarray(offset * hidden, (offset + n) * hidden), (p - from) * hidden);
    image += n;
    p += n;
  }
  return embeds;
}

/** Each image's aligned vision features [imageTokens * H], computed once per photo and cached. */
class ImageFeatures {
  private readonly keys: string[];

  constructor(
    private readonly model: JanusModel,
    private readonly caches: PromptCaches,
    private readonly images: PixelBatch | null,
  ) {
    this.keys = images ? imageKeys(images) : [];
  }

  /** Keys of the images whose positions lie before `end` in the row. */
  keysBefore(row: PromptRow, end: number): string[] {
    return this.keys.slice(0, Math.ceil(countOnes(row.imageMask, 0, end) / this.model.shape.imageTokens));
  }

  async of(index: number): Promise<Float32Array> {
    if (!this.images || index >= this.images.count) throw new RangeError(`prompt has more image positions than the ${this.images?.count ?? 0} images given`);
    const key = this.keys[index];
    const known = this.caches.getVision(key);
    if (known) return known;
    const per = this.images.data.length / this.images.count;
    const n = this.model.shape.imageTokens;
    const pixels = { data: this.images.data.slice(index * per, (index + 1) * per), count: 1 };
    const out = await this.model.embed(new BigInt64Array(n), 1, new Uint8Array(n).fill(1), 1, pixels);
    const feats = (out.data as Float32Array).slice();
    this.caches.setVision(key, feats);
    return feats;
  }
}

function countOnes(mask: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n += mask[i];
  return n;
}

function rowsOf(mask: BigInt64Array, len: number, rows: number[]): BigInt64Array {
  const out = new BigInt64Array(rows.length * len);
  rows.forEach((r, k) => out.set(mask.subarray(r * len, (r + 1) * len), k * len));
  return out;
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}
