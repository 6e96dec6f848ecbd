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

/**
 * Takes a claim: free, or held by a holder whose liveness key has lapsed (its process died); never one
 * marked posted. KEYS[1] the claim, ARGV[1] this holder, ARGV[2] the liveness keys' prefix, ARGV[3] how
 * long a claim lasts at most (ms).
 */
const CLAIM = `local v = redis.call('get', KEYS[1])
if v == 'posted' then return 0 end
if v and redis.call('exists', ARGV[2] .. v) == 1 then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`;
// Deletes the claim only while it is still this holder's.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * Claims shared through Redis by every gateway (JOB_QUEUE=redis). A claim names its holder, a process
 * that renews a liveness key of its own while it lives: the claim of a process that died lapses with
 * that key (seconds), not after a fixed hold, so the next gateway posts the result at once.
 */
export class RedisDeliveryClaims implements DeliveryClaims {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #holder = randomUUID();
  /** Claims this process holds now (two attempts of one process exclude each other here). */
  readonly #held = new Set<string>();
  readonly #livenessMs: number;
  /** How long a claim lasts at most, should its holder live on and never settle it (ms). */
  readonly #holdMs: number;
  /** How long a posted result stays claimed (ms): longer than any kept result is retried. */
  readonly #postedMs: number;
  readonly #timer: NodeJS.Timeout;
  #alive: Promise<unknown>;

  constructor(redis: Redis, prefix: string, { livenessMs = 15_000, holdMs = 24 * 3600_000, postedMs = 31 * 24 * 3600_000 } = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#livenessMs = livenessMs;
    this.#holdMs = holdMs;
    this.#postedMs = postedMs;
    this.#alive = this.#renew();
    this.#timer = setInterval(() => void this.#renew(), Math.max(500, Math.floor(livenessMs / 3)));
    this.#timer.unref();
  }

  async claim(jobId: string): Promise<boolean> {
    if (this.#held.has(jobId)) return false;
    this.#held.add(jobId);
    try {
      await this.#alive;
      const taken = (await this.#redis.eval(CLAIM, 1, this.#prefix + jobId, this.#holder, this.#livenessPrefix, String(this.#holdMs))) === 1;
      if (!taken) this.#held.delete(jobId);
      return taken;
    } catch (err) {
      this.#held.delete(jobId);
      throw err;
    }
  }

  async posted(jobId: string): Promise<void> {
    this.#held.delete(jobId);
    await this.#redis.set(this.#prefix + jobId, 'posted', 'PX', this.#postedMs);
  }

  async release(jobId: string): Promise<void> {
    if (!this.#held.delete(jobId)) return;
    await this.#redis.eval(RELEASE, 1, this.#prefix + jobId, this.#holder);
  }

  /** Stops renewing this process's liveness and gives it up (its claims lapse at once). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#redis.del(this.#livenessPrefix + this.#holder).catch(() => {});
  }

  get #livenessPrefix(): string {
    return `${this.#prefix}live:`;
  }

  #renew(): Promise<unknown> {
    return this.#redis.set(this.#livenessPrefix + this.#holder, '1', 'PX', this.#livenessMs).catch(() => {});
  }
}
