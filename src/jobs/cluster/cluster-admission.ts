import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { admissionRefusal, type AdmissionCaps, type AdmissionCounts } from '../admission/admission-rules.ts';
import type { QueueReservation } from '../queue-view.ts';
import { KEYS } from './cluster-names.ts';
import { liveCapacity, waitingJobs, type ClusterJobData } from './cluster-reads.ts';
import { fairPriority } from './fair-priority.ts';
import { withRedisLock } from './redis-lock.ts';

/** A place reserved for a job being made, as kept in Redis (KEYS.reserved). */
interface HeldPlace {
  /** The gateway holding it (its liveness key: KEYS.admitterPrefix + holder). */
  holder: string;
  userId: string;
  guildId: string | null;
  startsNow: boolean;
  expiresAt: number;
}

export interface ClusterAdmissionOptions {
  caps: AdmissionCaps;
  /** Runs of one job before it fails for good, when its worker crashes or dies. */
  attempts: number;
  /** A place reserved and neither added nor released within this long stops counting. */
  reservationMs: number;
  /** How long this gateway's liveness key lasts unless renewed (renewed three times as often): a place of a gateway that died stops counting this long after. */
  livenessMs: number;
}

/**
 * Admission to the queue shared through Redis, the same for every gateway: the caps (admission-rules.ts,
 * the server's per-member cap included) are decided under one Redis lock, counting BullMQ's waiting and
 * active jobs and the places reserved for jobs still being made, which are kept in Redis. A job is added
 * with its fair priority (fair-priority.ts) under the same lock.
 */
export class ClusterAdmission {
  readonly #redis: Redis;
  readonly #queue: Queue<ClusterJobData>;
  readonly #options: ClusterAdmissionOptions;
  readonly #holder = randomUUID();
  #alive: Promise<unknown>;
  readonly #renewal: NodeJS.Timeout;
  /** Places this process reserved and still holds (given back by releaseHeld). */
  readonly #heldHere = new Set<string>();
  /** Admissions of this process one after another, so they queue here instead of polling the Redis lock. */
  #turns: Promise<unknown> = Promise.resolve();

  constructor(redis: Redis, queue: Queue<ClusterJobData>, options: ClusterAdmissionOptions) {
    this.#redis = redis;
    this.#queue = queue;
    this.#options = options;
    this.#alive = this.#renew();
    this.#renewal = setInterval(() => void (this.#alive = this.#renew()), Math.max(200, Math.floor(options.livenessMs / 3)));
    this.#renewal.unref();
  }

  /** Throws the refusal a job of this user and server would get now; whether it would start at once. A look, not a hold. */
  async assertAccepts(userId: string, guildId: string | null, jobsPerUser: number): Promise<boolean> {
    const { counts } = await this.#counts(userId, guildId);
    const refusal = admissionRefusal(counts, this.#options.caps, jobsPerUser);
    if (refusal) throw refusal;
    return counts.startsNow;
  }

  /**
   * Takes a place for job `id` before the slow part of making it: under the lock the caps are checked
   * (places others hold counted as their jobs) and the place is written to Redis, so N gateways' requests
   * against a cap of K get K places. add() with the same id turns it into the job without checking
   * again; release() gives it back; one left by a dead gateway stops counting after `reservationMs`.
   */
  async reserve(id: string, userId: string, guildId: string | null, jobsPerUser: number): Promise<QueueReservation> {
    await this.#alive;
    const startsNow = await this.#underLock(async () => {
      if ((await this.#redis.hexists(KEYS.reserved, id)) || (await this.#queue.getJob(id))) throw new Error(`job ${id} is already in the queue`);
      const { counts } = await this.#counts(userId, guildId);
      const refusal = admissionRefusal(counts, this.#options.caps, jobsPerUser);
      if (refusal) throw refusal;
      const place: HeldPlace = { holder: this.#holder, userId, guildId, startsNow: counts.startsNow, expiresAt: Date.now() + this.#options.reservationMs };
      await this.#redis.hset(KEYS.reserved, id, JSON.stringify(place));
      return counts.startsNow;
    });
    this.#heldHere.add(id);
    const heldHere = this.#heldHere;
    return {
      id,
      startsNow,
      get held() {
        return heldHere.has(id);
      },
      release: async () => {
        if (!heldHere.delete(id)) return false;
        return (await this.#redis.hdel(KEYS.reserved, id)) > 0;
      },
    };
  }

  /**
   * Adds job `id` to BullMQ with its fair priority (nothing when it is there already). A place reserved
   * for it becomes the job, admitted then; a job without one is checked against the caps now and throws
   * the refusal.
   */
  async add(job: { id: string; userId: string; guildId: string | null }): Promise<void> {
    this.#heldHere.delete(job.id);
    await this.#underLock(async () => {
      const place = parsePlace(await this.#redis.hget(KEYS.reserved, job.id));
      await this.#redis.hdel(KEYS.reserved, job.id);
      if (await this.#queue.getJob(job.id)) return;
      const { counts, userPriorities, empty } = await this.#counts(job.userId, job.guildId);
      const reserved = place !== undefined && place.expiresAt > Date.now() && place.userId === job.userId && place.guildId === job.guildId;
      const refusal = reserved ? undefined : admissionRefusal(counts, this.#options.caps);
      if (refusal) throw refusal;
      if (empty) await this.#redis.set(KEYS.virtualTime, '0');
      const virtualTime = Number((await this.#redis.get(KEYS.virtualTime)) ?? 0);
      await this.#queue.add(
        'image',
        { userId: job.userId, guildId: job.guildId, enqueuedAt: Date.now() },
        {
          jobId: job.id,
          priority: fairPriority(virtualTime, userPriorities),
          attempts: this.#options.attempts,
          backoff: { type: 'exponential', delay: 1_000 },
          removeOnComplete: { age: 24 * 3600, count: 5_000 },
          removeOnFail: { age: 7 * 24 * 3600, count: 5_000 },
        },
      );
    });
  }

  /** Gives back every place this process still holds (it is stopping). */
  async releaseHeld(): Promise<void> {
    const held = [...this.#heldHere];
    this.#heldHere.clear();
    if (held.length) await this.#redis.hdel(KEYS.reserved, ...held).catch(() => {});
  }

  /** Stops renewing this gateway's liveness (places it still holds stop counting once it lapses). */
  stop(): void {
    clearInterval(this.#renewal);
  }

  #renew(): Promise<unknown> {
    return this.#redis.set(KEYS.admitterPrefix + this.#holder, '1', 'PX', this.#options.livenessMs).catch(() => {});
  }

  #underLock<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#turns.then(() => withRedisLock(this.#redis, KEYS.admitLock, work));
    this.#turns = turn.catch(() => {});
    return turn;
  }

  async #counts(userId: string, guildId: string | null): Promise<{ counts: AdmissionCounts; userPriorities: number[]; empty: boolean }> {
    const [waiting, active, capacity, places] = await Promise.all([waitingJobs(this.#queue), this.#queue.getJobs(['active']), liveCapacity(this.#redis), this.#heldPlaces()]);
    const mine = (j: { userId: string } | undefined) => j?.userId === userId;
    const here = (j: { guildId: string | null } | undefined) => guildId !== null && j?.guildId === guildId;
    const queued = [...waiting, ...active].map((j) => j.data);
    // Held places count as the jobs they will become: starting at once or waiting, as when they were taken.
    const placesRunning = places.filter((p) => p.startsNow);
    const placesWaiting = places.filter((p) => !p.startsNow);
    const userWaiting = waiting.filter((j) => mine(j.data)).length + placesWaiting.filter(mine).length;
    const userRunning = active.filter((j) => mine(j.data)).length + placesRunning.filter(mine).length;
    const inGuild = [...queued, ...places].filter(here);
    return {
      counts: {
        startsNow: active.length + placesRunning.length < capacity && userWaiting === 0 && userRunning === 0,
        userWaiting,
        userInGuild: inGuild.filter(mine).length,
        inGuild: inGuild.length,
        waiting: waiting.length + placesWaiting.length,
        guildId,
      },
      userPriorities: [...waiting, ...active].filter((j) => mine(j.data)).map((j) => j.opts.priority ?? 0),
      empty: waiting.length === 0 && active.length === 0,
    };
  }

  /**
   * Places reserved and still counting: not expired, and held by a gateway whose liveness key is there
   * (one that died stops counting then; its place is dropped once expired, so a live gateway's place
   * missed for a moment, as after a Redis restart, counts again when its key is renewed).
   */
  async #heldPlaces(): Promise<HeldPlace[]> {
    const now = Date.now();
    const entries = Object.entries(await this.#redis.hgetall(KEYS.reserved)).map(([id, text]) => ({ id, place: parsePlace(text) }));
    const holders = [...new Set(entries.flatMap((e) => (e.place ? [e.place.holder] : [])))];
    const alive = new Set(holders.length ? (await this.#redis.mget(...holders.map((h) => KEYS.admitterPrefix + h))).flatMap((v, i) => (v ? [holders[i]] : [])) : []);
    const places: HeldPlace[] = [];
    const expired: string[] = [];
    for (const { id, place } of entries) {
      if (!place || place.expiresAt <= now) expired.push(id);
      else if (alive.has(place.holder)) places.push(place);
    }
    if (expired.length) await this.#redis.hdel(KEYS.reserved, ...expired);
    return places;
  }
}

function parsePlace(text: string | null | undefined): HeldPlace | undefined {
  if (!text) return undefined;
  try {
    const place = JSON.parse(text) as HeldPlace;
    return typeof place.holder === 'string' && typeof place.userId === 'string' && typeof place.expiresAt === 'number' ? place : undefined;
  } catch {
    return undefined;
  }
}
