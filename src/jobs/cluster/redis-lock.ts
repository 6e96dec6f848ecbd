import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

// Deletes the key only while it still holds this holder's token (a lock that expired and was taken by
// another process is left alone).
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Runs `work` while holding a Redis lock (SET NX PX), waiting for it up to `waitMs`. The lock expires
 * after `ttlMs` if its holder dies, so `work` must be shorter than that.
 */
export async function withRedisLock<T>(redis: Redis, key: string, work: () => Promise<T>, { ttlMs = 5_000, waitMs = 10_000 } = {}): Promise<T> {
  const token = randomUUID();
  const deadline = Date.now() + waitMs;
  let pause = 5;
  while ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new Error(`could not take the lock ${key} within ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(100, pause * 2);
  }
  try {
    return await work();
  } finally {
    await redis.eval(RELEASE, 1, key, token).catch(() => {});
  }
}
