import { LRUCache } from 'lru-cache';
import type { KvCache } from '../model/janus-model.ts';
import { kvBytes } from '../model/kv-rows.ts';

export interface PromptCacheOptions {
  /** Budget for vision features (one entry per photo), MiB. 0 turns the cache off. */
  visionCacheMb?: number;
  /** Budget for prompt-prefix KV (one entry per subject and prompt row), MiB. 0 turns it off. */
  prefixCacheMb?: number;
}

export const DEFAULT_VISION_CACHE_MB = 256;
export const DEFAULT_PREFIX_CACHE_MB = 4096;

export interface PromptCacheStats {
  visionHits: number;
  visionMisses: number;
  prefixHits: number;
  prefixMisses: number;
  visionBytes: number;
  prefixBytes: number;
}

/**
 * What a known subject lets the engine skip, kept per engine (so per model), least recently used
 * out first, bounded in bytes: each photo's vision features (the aligner's output, keyed by the
 * photo's pixels) and the decoder's KV for a prompt's prefix up to the last photo (keyed by the
 * prefix's token ids and photos). Entries are never modified after they are stored.
 */
export class PromptCaches {
  private readonly vision: LRUCache<string, Float32Array> | null;
  private readonly prefix: LRUCache<string, KvCache> | null;
  private readonly counts = { visionHits: 0, visionMisses: 0, prefixHits: 0, prefixMisses: 0 };

  constructor(options: PromptCacheOptions = {}) {
    const visionBytes = mib(options.visionCacheMb ?? DEFAULT_VISION_CACHE_MB);
    const prefixBytes = mib(options.prefixCacheMb ?? DEFAULT_PREFIX_CACHE_MB);
    this.vision = visionBytes > 0 ? new LRUCache({ maxSize: visionBytes, sizeCalculation: (v) => Math.max(1, v.byteLength) }) : null;
    this.prefix = prefixBytes > 0 ? new LRUCache({ maxSize: prefixBytes, sizeCalculation: (v) => Math.max(1, kvBytes(v)) }) : null;
  }

  getVision(key: string): Float32Array | undefined {
    const hit = this.vision?.get(key);
    this.counts[hit ? 'visionHits' : 'visionMisses']++;
    return hit;
  }

  /** Stores unless the entry alone is over the budget (lru-cache would refuse it anyway). */
  setVision(key: string, features: Float32Array): void {
    if (this.vision && features.byteLength <= this.vision.maxSize) this.vision.set(key, features);
  }

  getPrefix(key: string): KvCache | undefined {
    const hit = this.prefix?.get(key);
    this.counts[hit ? 'prefixHits' : 'prefixMisses']++;
    return hit;
  }

  setPrefix(key: string, cache: KvCache): void {
    if (this.prefix && kvBytes(cache) <= this.prefix.maxSize) this.prefix.set(key, cache);
  }

  clear(): void {
    this.vision?.clear();
    this.prefix?.clear();
  }

  stats(): PromptCacheStats {
    return { ...this.counts, visionBytes: this.vision?.calculatedSize ?? 0, prefixBytes: this.prefix?.calculatedSize ?? 0 };
  }
}

function mib(n: number): number {
  if (!(Number.isFinite(n) && n >= 0)) throw new RangeError(`cache size must be a number of MiB >= 0, got ${n}`);
  return Math.floor(n * 2 ** 20);
}
