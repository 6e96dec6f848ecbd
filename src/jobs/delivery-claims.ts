import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** The right to post a finished job's result, so that it is posted once however many processes see it finish. */
export interface DeliveryClaims {
  /** Takes the right; false while another attempt holds it, or once the result was posted. */
  claim(jobId: string): Promise<boolean>;
  /** The result is posted: no later claim succeeds. */
  posted(jobId: string): Promise<void>;
  /** The attempt did not post it (the result is kept for later): a later claim may succeed. */
  release(jobId: string): Promise<void>;
}

/** Claims within one process (JOB_QUEUE=local: only this process posts its results). */
export class LocalDeliveryClaims implements DeliveryClaims {
  readonly #held = new Set<string>();

  async claim(jobId: string): Promise<boolean> {
    if (this.#held.has(jobId)) return false;
    this.#held.add(jobId);
    return true;
  }

  async posted(jobId: string): Promise<void> {
    // A posted result's kept copy is dropped, so nothing in this process tries to post it again.
    this.#held.delete(jobId);
  }

  async release(jobId: string): Promise<void> {
    this.#held.delete(jobId);
  }
}

// Deletes the claim only while it is still this attempt's.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Claims shared through Redis by every gateway (JOB_QUEUE=redis). */
export class RedisDeliveryClaims implements DeliveryClaims {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #tokens = new Map<string, string>();
  /** An attempt whose process died frees its claim after this long (ms). */
  readonly #holdMs: number;
  /** How long a posted result stays claimed (ms): longer than any kept result is retried. */
  readonly #postedMs: number;

  constructor(redis: Redis, prefix: string, { holdMs = 10 * 60_000, postedMs = 31 * 24 * 3600_000 } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#holdMs = holdMs;
    this.#postedMs = postedMs;
  }

  async claim(jobId: string): Promise<boolean> {
    const token = randomUUID();
    const taken = (await this.#redis.set(this.#prefix + jobId, token, 'PX', this.#holdMs, 'NX')) === 'OK';
    if (taken) this.#tokens.set(jobId, token);
    return taken;
  }

  async posted(jobId: string): Promise<void> {
    this.#tokens.delete(jobId);
    await this.#redis.set(this.#prefix + jobId, 'posted', 'PX', this.#postedMs);
  }

  async release(jobId: string): Promise<void> {
    const token = this.#tokens.get(jobId);
    this.#tokens.delete(jobId);
    if (token) await this.#redis.eval(RELEASE, 1, this.#prefix + jobId, token);
  }
}
