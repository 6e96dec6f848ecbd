import type { SeededRandom } from '../util/seeded-random.ts';

export interface SamplingOptions {
  /** Argmax instead of sampling. */
  greedy: boolean;
  temperature: number;
  /** Keep only the k most likely tokens before sampling; undefined or 0 keeps all. */
  topK?: number;
}

/**
 * Classifier-free guidance over stacked rows [cond_0..cond_{n-1}, uncond_0..uncond_{n-1}]:
 * uncond + w (cond - uncond), computed and rounded exactly as transformers.js does (float32 store).
 */
export function guide(logits: Float32Array, n: number, vocab: number, weight: number): Float32Array {
  const out = new Float32Array(n * vocab);
  const uncondBase = n * vocab;
  for (let i = 0; i < n * vocab; i++) {
    const u = logits[uncondBase + i];
    out[i] = u + (logits[i] - u) * weight;
  }
  return out;
}

/** Picks one token from `row` (a view of one row of logits). */
export function pickToken(row: Float32Array, options: SamplingOptions, rng: SeededRandom): number {
  if (options.greedy) return argmax(row);
  const t = options.temperature;
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, row.length) : row.length;
  const candidates = k < row.length ? topIndices(row, k) : Array.from(row.keys());
  let max = -Infinity;
  for (const i of candidates) max = Math.max(max, row[i] / t);
  const weights = candidates.map((i) => Math.exp(row[i] / t - max));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.uniform() * total;
  for (let j = 0; j < candidates.length; j++) {
    u -= weights[j];
    if (u < 0) return candidates[j];
  }
  return candidates[candidates.length - 1];
}

/** First index of the maximum, as transformers.js' greedy sampler. */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function topIndices(row: Float32Array, k: number): number[] {
  return Array.from(row.keys())
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);
}
