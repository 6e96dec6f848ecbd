import ort from 'onnxruntime-node';
import type { JanusModel, PixelBatch } from '../engine/janus-model.ts';
import { guide, pickToken, type SamplingOptions } from '../engine/sampler.ts';
import { CancelledError } from '../errors.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import type { EncodedPrompt } from './chat-tokenizer.ts';
import { appendOnes } from './text-loop.ts';

/**
 * How the unconditional CFG row is built.
 * - janus: the official recipe; every token between BOS and the last (<begin_of_image>) is pad,
 *   images are dropped, all positions attended.
 * - transformers-js: as transformers.js' generate_images; the whole row is pad with attention 0.
 */
export type UncondMode = 'janus' | 'transformers-js';

export interface ImageLoopOptions extends SamplingOptions {
  count: number;
  cfgWeight: number;
  uncond: UncondMode;
  pad: number;
  /** Image i samples from seeds[i]. */
  seeds: number[];
  signal?: AbortSignal;
  onStep?: (done: number, total: number) => void;
}

/**
 * Writes `count` images' tokens; all rows (count cond + count uncond) advance as one batch per
 * step. Returns [count, imageTokens] token ids.
 */
export async function generateImageTokens(model: JanusModel, prompt: EncodedPrompt, images: PixelBatch | null, o: ImageLoopOptions): Promise<BigInt64Array> {
  const n = o.count;
  const guided = o.cfgWeight !== 1;
  const rows = guided ? 2 * n : n;
  const len = prompt.ids.length;
  const total = model.shape.imageTokens;
  const codes = model.shape.codebookSize;
  const rngs = o.seeds.map((s) => new SeededRandom(s));

  const condIds = BigInt64Array.from(prompt.ids.map(BigInt));
  const cond = await model.embed(condIds, 1, prompt.imageMask, 1, images);
  const embedsRows = [cond];
  let mask: BigInt64Array = new BigInt64Array(rows * len).fill(1n);
  if (guided) {
    const uncond = await embedUncond(model, prompt, images, o);
    embedsRows.push(uncond.embeds);
    if (o.uncond === 'transformers-js') mask.fill(0n, n * len);
  }
  let embeds = tileRows(embedsRows, n);
  let cache = model.emptyCache(rows);
  const tokens = new BigInt64Array(n * total);

  for (let step = 0; step < total; step++) {
    if (o.signal?.aborted) throw new CancelledError();
    const out = await model.decode(embeds, cache, mask);
    cache = out.cache;
    const raw = await model.imageLogits(out.hidden);
    const logits = guided ? guide(raw, n, codes, o.cfgWeight) : raw;
    const next = new BigInt64Array(rows);
    for (let i = 0; i < n; i++) {
      const id = BigInt(pickToken(logits.subarray(i * codes, (i + 1) * codes), o, rngs[i]));
      tokens[i * total + step] = id;
      next[i] = id;
      if (guided) next[n + i] = id;
    }
    o.onStep?.(step + 1, total);
    if (step + 1 === total) break;
    embeds = await model.embedImageTokens(next);
    mask = appendOnes(mask, rows);
  }
  return tokens;
}

async function embedUncond(model: JanusModel, prompt: EncodedPrompt, images: PixelBatch | null, o: ImageLoopOptions): Promise<{ embeds: ort.Tensor }> {
  const len = prompt.ids.length;
  const ids = new BigInt64Array(len).fill(BigInt(o.pad));
  if (o.uncond === 'janus') {
    ids[0] = BigInt(prompt.ids[0]);
    ids[len - 1] = BigInt(prompt.ids[len - 1]);
    return { embeds: await model.embed(ids, 1, new Uint8Array(len), 1, null) };
  }
  // transformers.js keeps the batch-1 image mask, so image features land in the pad row too.
  return { embeds: await model.embed(ids, 1, prompt.imageMask, 1, images) };
}

/** [cond; uncond] (each [1, L, H]) -> [n cond rows; n uncond rows]. */
function tileRows(parts: ort.Tensor[], n: number): ort.Tensor {
  const [, len, hidden] = parts[0].dims as number[];
  const rowSize = len * hidden;
  const out = new Float32Array(parts.length * n * rowSize);
  parts.forEach((p, k) => {
    const data = p.data as Float32Array;
    for (let i = 0; i < n; i++) out.set(data, (k * n + i) * rowSize);
  });
  return new ort.Tensor('float32', out, [parts.length * n, len, hidden]);
}
