import { createHash } from 'node:crypto';
import { assertId, DAY_MS } from './ids.ts';
import type { Store } from './open-store.ts';

/**
 * Cache of stage-1 grounding (the model's description of the reference photos), so that rerolls and new
 * prompts with the same subject skip the text loop.
 *
 * The key is (userId, modelId, sorted photo hashes, name, context). The user id is both part of the
 * storage key and of the digest, and is checked again on read, so one user's request can never be served
 * another user's cached text, even for the same photos. Pass the id of the user who makes the request.
 *
 * Layout (namespace `groundings`):
 *   e:<userId>:<digest> -> GroundingEntry        (Keyv TTL, default 30 days)
 *   u:<userId>          -> { d, h, t }[]         (index: digest, photo hashes, created; oldest first)
 * An entry is written after its index item and deleted before it, so the index always covers every entry
 * (deleteForUser and deleteForPhotos rely on it). At most `maxPerUser` entries per user: the oldest are
 * evicted. Expired entries are dropped from the index (and deleted) on the user's next put and by cleanup().
 */

export interface GroundingKey {
  userId: string;
  /** Which model produced it (bundle name or hash): another model means another grounding. */
  modelId: string;
  photoHashes: readonly string[];
  name?: string;
  context?: string;
}

export interface CachedGrounding {
  text: string;
  tokenIds: number[];
  /** How long stage 1 took when it ran. */
  ms: number;
  createdAt: number;
}

interface GroundingEntry extends CachedGrounding {
  userId: string;
  photoHashes: string[];
}

interface IndexItem {
  d: string;
  h: string[];
  t: number;
}

export interface GroundingCacheOptions {
  ttlMs?: number;
  maxPerUser?: number;
  now?: () => number;
}

export const DEFAULT_GROUNDING_TTL_MS = 30 * DAY_MS;
export const DEFAULT_GROUNDINGS_PER_USER = 100;

export class GroundingCache {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #maxPerUser: number;
  readonly #now: () => number;

  constructor(store: Store, options: GroundingCacheOptions = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? DEFAULT_GROUNDING_TTL_MS;
    this.#maxPerUser = options.maxPerUser ?? DEFAULT_GROUNDINGS_PER_USER;
    this.#now = options.now ?? Date.now;
  }

  /** The digest part of the key: changes with any of model, photos (order ignored), name, context, user. */
  static digest(key: GroundingKey): string {
    const parts = [
      'grounding-v1',
      key.userId,
      key.modelId,
      [...key.photoHashes].sort(),
      (key.name ?? '').trim(),
      (key.context ?? '').trim(),
    ];
    return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
  }

  async get(key: GroundingKey): Promise<CachedGrounding | undefined> {
    assertId(key.userId, 'userId');
    const entry: GroundingEntry | undefined = await this.#store.groundings.get(entryKey(key.userId, GroundingCache.digest(key)));
    if (!entry || entry.userId !== key.userId) return undefined;
    if (this.#now() - entry.createdAt > this.#ttlMs) return undefined; // when `now` is faked in tests
    return { text: entry.text, tokenIds: entry.tokenIds, ms: entry.ms, createdAt: entry.createdAt };
  }

  async put(key: GroundingKey, grounding: { text: string; tokenIds: readonly number[]; ms: number }): Promise<CachedGrounding> {
    assertId(key.userId, 'userId');
    const userId = key.userId;
    const digest = GroundingCache.digest(key);
    const now = this.#now();
    const entry: GroundingEntry = {
      userId,
      photoHashes: [...key.photoHashes],
      text: grounding.text,
      tokenIds: [...grounding.tokenIds],
      ms: grounding.ms,
      createdAt: now,
    };
    await this.#lockUser(userId, async () => {
      const index = await this.#index(userId);
      let items = index.filter((item) => item.d !== digest);
      const expired = items.filter((item) => now - item.t > this.#ttlMs);
      items = items.filter((item) => now - item.t <= this.#ttlMs);
      const evicted = items.length >= this.#maxPerUser ? items.slice(0, items.length - this.#maxPerUser + 1) : [];
      items = items.slice(evicted.length);
      const dropped = [...expired, ...evicted].map((item) => entryKey(userId, item.d));
      if (dropped.length) await this.#store.groundings.delete(dropped);
      await this.#store.groundings.set(indexKey(userId), [...items, { d: digest, h: entry.photoHashes, t: now }]);
      await this.#store.groundings.set(entryKey(userId, digest), entry, this.#ttlMs);
    });
    return { text: entry.text, tokenIds: entry.tokenIds, ms: entry.ms, createdAt: entry.createdAt };
  }

  /** Deletes every cached grounding of a user; returns how many entries there were. */
  async deleteForUser(userId: string): Promise<number> {
    assertId(userId, 'userId');
    return this.#lockUser(userId, async () => {
      const fromIndex = (await this.#index(userId)).map((item) => entryKey(userId, item.d));
      // Keys too (cheap, no values): nothing of this user may stay, whatever a crash left behind.
      const prefix = `e:${userId}:`;
      const fromKeys = (await this.#store.keys('groundings')).filter((k) => k.startsWith(prefix));
      const keys = [...new Set([...fromIndex, ...fromKeys])];
      const existing = keys.length ? (await this.#store.groundings.has(keys)) as boolean[] : [];
      if (keys.length) await this.#store.groundings.delete(keys);
      await this.#store.groundings.delete(indexKey(userId));
      return existing.filter(Boolean).length;
    });
  }

  /**
   * Deletes a user's cached groundings made from these photos (their subject was deleted): with
   * `match` 'any', every grounding that used one of them; with 'all', only those that used them all.
   */
  async deleteForPhotos(userId: string, photoHashes: readonly string[], match: 'any' | 'all' = 'any'): Promise<number> {
    assertId(userId, 'userId');
    const gone = new Set(photoHashes);
    return this.#lockUser(userId, async () => {
      const index = await this.#index(userId);
      const hit = index.filter((item) => (match === 'any' ? item.h.some((h) => gone.has(h)) : photoHashes.every((h) => item.h.includes(h))));
      if (hit.length === 0) return 0;
      await this.#store.groundings.delete(hit.map((item) => entryKey(userId, item.d)));
      const left = index.filter((item) => !hit.includes(item));
      if (left.length) await this.#store.groundings.set(indexKey(userId), left);
      else await this.#store.groundings.delete(indexKey(userId));
      return hit.length;
    });
  }

  /**
   * A deleted subject's groundings: the owner's that used any of its photos, and other users' made
   * from all of them (a shared subject is grounded under the member who used it). Derived text
   * must not outlive the photos it describes.
   */
  async deleteForSubject(ownerId: string, photoHashes: readonly string[]): Promise<number> {
    const users = (await this.#store.keys('groundings')).filter((k) => k.startsWith('u:')).map((k) => k.slice(2));
    let deleted = 0;
    for (const userId of users) deleted += await this.deleteForPhotos(userId, photoHashes, userId === ownerId ? 'any' : 'all');
    return deleted;
  }

  /**
   * Maintenance: drops expired entries (SQLite keeps them until read) and entries missing from their
   * user's index. Returns how many entries were deleted.
   */
  async cleanup(): Promise<number> {
    const keys = await this.#store.keys('groundings');
    const users = keys.filter((k) => k.startsWith('u:')).map((k) => k.slice(2));
    let deleted = 0;
    const indexed = new Set<string>();
    const now = this.#now();
    for (const userId of users) {
      await this.#lockUser(userId, async () => {
        const index = await this.#index(userId);
        const live = index.filter((item) => now - item.t <= this.#ttlMs);
        const expired = index.filter((item) => now - item.t > this.#ttlMs);
        if (expired.length) {
          await this.#store.groundings.delete(expired.map((item) => entryKey(userId, item.d)));
          deleted += expired.length;
          if (live.length) await this.#store.groundings.set(indexKey(userId), live);
          else await this.#store.groundings.delete(indexKey(userId));
        }
        for (const item of live) indexed.add(entryKey(userId, item.d));
      });
    }
    const strays = keys.filter((k) => k.startsWith('e:') && !indexed.has(k));
    for (const key of strays) {
      const userId = key.split(':')[1];
      await this.#lockUser(userId, async () => {
        const index = await this.#index(userId);
        if (!index.some((item) => entryKey(userId, item.d) === key) && (await this.#store.groundings.delete(key))) deleted++;
      });
    }
    return deleted;
  }

  async #index(userId: string): Promise<IndexItem[]> {
    return (await this.#store.groundings.get(indexKey(userId))) ?? [];
  }

  #lockUser<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.locks.run(`groundings:${userId}`, fn);
  }
}

function entryKey(userId: string, digest: string): string {
  return `e:${userId}:${digest}`;
}

function indexKey(userId: string): string {
  return `u:${userId}`;
}
