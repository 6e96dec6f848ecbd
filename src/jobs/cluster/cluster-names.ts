import { Redis, type RedisOptions } from 'ioredis';

/** BullMQ's key prefix and the queue every gateway adds to and every model worker takes from. */
export const BULL_PREFIX = 'xcot';
export const QUEUE_NAME = 'images';

/** Keys of our own beside BullMQ's (all under the same prefix, so one Redis can serve several bots with other prefixes). */
export const KEYS = {
  /** The admission lock: caps and fair priorities are decided by one process at a time. */
  admitLock: `${BULL_PREFIX}:admit-lock`,
  /** Places held for jobs being made (hash: job id -> JSON HeldPlace), taken and given back under the admission lock. */
  reserved: `${BULL_PREFIX}:reserved`,
  /** One key per live gateway that holds places, expiring unless renewed: a dead gateway's places stop counting. */
  admitterPrefix: `${BULL_PREFIX}:admitter:`,
  /** Start-time fair queueing's virtual time: the priority of the job a worker started last. */
  virtualTime: `${BULL_PREFIX}:fair:vt`,
  /** One key per live model worker (value: how many jobs it runs at once), expiring unless renewed. */
  workerPrefix: `${BULL_PREFIX}:worker:`,
  /** Durations of the last jobs (ms), newest first: ETAs in every gateway. */
  durations: `${BULL_PREFIX}:durations`,
  /** Jobs cancelled while a worker may be taking them (checked when a run starts), expiring after an hour. */
  cancelledPrefix: `${BULL_PREFIX}:cancelled:`,
  /** Pub/sub channel: ids of running jobs to cancel, heard by every worker. */
  cancelChannel: `${BULL_PREFIX}:cancel`,
  /** Pub/sub channel: forget-me asks every gateway to stop posting a user's results, and they answer (forget-reach.ts). */
  forgetChannel: `${BULL_PREFIX}:forget`,
  /** Claims on posting a result (one gateway posts it). */
  postedPrefix: `${BULL_PREFIX}:posted:`,
  /** Gateways that accept no new jobs (draining), so /queue can say so. */
  closedFlag: `${BULL_PREFIX}:closed`,
} as const;

/**
 * A connection for BullMQ and our keys. BullMQ's workers and event readers block on Redis, so every
 * command waits for a reconnect instead of failing after a few retries (maxRetriesPerRequest: null).
 */
export function redisConnection(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
  // ioredis reconnects by itself; without a listener it would also print every failed attempt.
  redis.on('error', () => {});
  return redis;
}
