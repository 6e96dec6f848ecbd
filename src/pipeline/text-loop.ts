import type { JanusModel, PixelBatch } from '../engine/janus-model.ts';
import { pickToken, type SamplingOptions } from '../engine/sampler.ts';
import { CancelledError } from '../errors.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import type { EncodedPrompt } from './chat-tokenizer.ts';

export interface TextLoopOptions extends SamplingOptions {
  maxNewTokens: number;
  eos: number;
  seed: number;
  signal?: AbortSignal;
  /** Each new token id as it is chosen. */
  onToken?: (id: number) => void;
}

/** Autoregressive text from the lm_head, batch 1, until EOS or maxNewTokens. */
export async function generateText(model: JanusModel, prompt: EncodedPrompt, images: PixelBatch | null, options: TextLoopOptions): Promise<number[]> {
  const rng = new SeededRandom(options.seed);
  let embeds = await model.embed(BigInt64Array.from(prompt.ids.map(BigInt)), 1, prompt.imageMask, 1, images);
  let mask: BigInt64Array = new BigInt64Array(prompt.ids.length).fill(1n);
  let cache = model.emptyCache(1);
  const out: number[] = [];
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError();
    const step = await model.decode(embeds, cache, mask);
    cache = step.cache;
    const id = pickToken(await model.textLogits(step.hidden), options, rng);
    if (id === options.eos) break;
    out.push(id);
    options.onToken?.(id);
    if (out.length >= options.maxNewTokens) break;
    embeds = await model.embed(BigInt64Array.of(BigInt(id)), 1, new Uint8Array(1), 1, null);
    mask = appendOnes(mask, 1);
  }
  return out;
}

/** The mask grown by one attended position per row. */
export function appendOnes(mask: BigInt64Array, rows: number): BigInt64Array {
  const width = mask.length / rows;
  const next = new BigInt64Array(rows * (width + 1));
  for (let r = 0; r < rows; r++) {
    next.set(mask.subarray(r * width, (r + 1) * width), r * (width + 1));
    next[r * (width + 1) + width] = 1n;
  }
  return next;
}
