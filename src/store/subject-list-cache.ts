import { LRUCache } from 'lru-cache';

/**
 * Lists kept in memory per user or server, least recently used dropped past `maxKeys`. Writes
 * invalidate the affected keys; entries also expire after `ttlMs` (another process sharing Redis may
 * have written). A load that overlaps an invalidation of its key is returned but not kept, so it
 * cannot undo the invalidation.
 */
export class ListCache<T> {
  readonly #entries: LRUCache<string, T[]>;
  readonly #loading = new Map<string, object>();

  constructor(
    ttlMs: number,
    maxKeys: number,
    private readonly load: (key: string) => Promise<T[]>,
  ) {
    this.#entries = new LRUCache<string, T[]>({ max: maxKeys, ttl: ttlMs, updateAgeOnGet: false });
  }

  async get(key: string): Promise<T[]> {
    const hit = this.#entries.get(key);
    if (hit) return hit;
    const token = {};
    this.#loading.set(key, token);
    try {
      const list = await this.load(key);
      if (this.#loading.get(key) === token) this.#entries.set(key, list);
      return list;
    } finally {
      if (this.#loading.get(key) === token) this.#loading.delete(key);
    }
  }

  invalidate(key: string): void {
    this.#entries.delete(key);
    this.#loading.delete(key);
  }
}
