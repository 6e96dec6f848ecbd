import type { JanusModel, PixelBatch } from '../model/janus-model.ts';
import { pickToken, type SamplingOptions } from '../model/sampler.ts';
import { CancelledError } from '../errors.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import { KvArena } from '../model/kv-arena.ts';
import type { EncodedPrompt } from './chat-tokenizer.ts';
import type { PromptCaches } from './prompt-caches.ts';
import { prefillPrompt } from './prompt-prefill.ts';

export interface TextLoopOptions extends SamplingOptions {
  maxNewTokens: number;
  eos: number;
  seed: number;
  /** Keep the prompt's photo prefix in the cache (when a later prompt will start the same way). */
  storePrefix?: boolean;
  signal?: AbortSignal;
  /** Each new token id as it is chosen. */
  onToken?: (id: number) => void;
}

/** Autoregressive text from the lm_head, batch 1, until EOS or maxNewTokens. */
export async function generateText(
  model: JanusModel,
  caches: PromptCaches,
  prompt: EncodedPrompt,
  images: PixelBatch | null,
  options: TextLoopOptions,
): Promise<number[]> {
  const rng = new SeededRandom(options.seed);
  const row = { ids: prompt.ids, imageMask: prompt.imageMask, attended: true };
  let { hidden, cache, mask } = await prefillPrompt(model, caches, [row], images, { signal: options.signal, storePrefix: options.storePrefix });
  const out: number[] = [];
  const arena = new KvArena();
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError();
    const id = pickToken(await model.textLogits(hidden), options, rng);
    if (id === options.eos) break;
    out.push(id);
    options.onToken?.(id);
    if (out.length >= options.maxNewTokens) break;
    const embeds = await model.embed(BigInt64Array.of(BigInt(id)), 1, new Uint8Array(1), 1, null);
    mask = appendOnes(mask, 1);
    ({ hidden, cache } = await model.decode(embeds, cache, mask, arena));
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
