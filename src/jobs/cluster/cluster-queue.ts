import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { CancelledError, QueueClosedError } from '../../errors.ts';
import type { AdmissionCaps } from '../admission/admission-rules.ts';
import { projectEta } from '../eta.ts';
import type { RunHooks } from '../job-outcome.ts';
import type { JobHandle, JobState } from '../job-runner.ts';
import type { DrainResult, JobEta, QueueReservation, QueueSnapshot, QueueView } from '../queue-view.ts';
import { ClusterAdmission } from './cluster-admission.ts';
import { BULL_PREFIX, KEYS, QUEUE_NAME, redisConnection } from './cluster-names.ts';
import { liveCapacity, waitingJobs, type ClusterJobData } from './cluster-reads.ts';
import { decodeFailure } from './failure-wire.ts';

export interface ClusterQueueOptions extends Partial<AdmissionCaps> {
  redisUrl: string;
  /** A place reserved and neither added nor released within this long stops counting (default 10 minutes). */
  reservationMs?: number;
  /** A place held by a gateway that died stops counting this long after (its liveness key lapses; default 15 s). */
  livenessMs?: number;
  /** Runs of one job before it fails for good, when its worker crashes or dies (default 3). */
  attempts?: number;
  /** How often followed jobs are looked up besides the events, to catch events missed while Redis was away (ms, default 5 s). */
  pollMs?: number;
  /** Told of BullMQ's connection errors (they reconnect by themselves); without it they are dropped, never printed. */
  onError?: (err: unknown) => void;
}

interface Followed {
  id: string;
  state: JobState;
  hooks: RunHooks;
  resolve: () => void;
  reject: (err: unknown) => void;
  settled: boolean;
  cancelMessage?: string;
}

/**
 * The gateway's side of the queue shared through Redis (BullMQ): admission (ClusterAdmission, under one
 * Redis lock for every gateway), the queue's picture (positions, ETAs, what runs) kept fresh from
 * BullMQ's events, cancelling, and the jobs this process follows until they end. Model workers
 * (ModelWorker) take the jobs; every gateway sees every job.
 */
export class ClusterQueue implements QueueView {
  readonly #redis: Redis;
  readonly #queue: Queue<ClusterJobData>;
  readonly #events: QueueEvents;
  readonly #connections: Redis[];
  readonly #admission: ClusterAdmission;
  readonly #followed = new Map<string, Followed>();
  readonly #listeners = new Set<(snapshot: QueueSnapshot) => void>();
  #snapshot: QueueSnapshot = { concurrency: 0, accepting: true, running: [], waiting: [] };
  #durations: number[] = [];
  #closed = false;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  #poll: NodeJS.Timeout;

  private constructor(options: ClusterQueueOptions) {
    this.#redis = redisConnection(options.redisUrl);
    // BullMQ leaves connections it was given open at close(): they are ours to end.
    this.#connections = [redisConnection(options.redisUrl), redisConnection(options.redisUrl)];
    this.#queue = new Queue<ClusterJobData>(QUEUE_NAME, { connection: this.#connections[0], prefix: BULL_PREFIX });
    this.#events = new QueueEvents(QUEUE_NAME, { connection: this.#connections[1], prefix: BULL_PREFIX });
    this.#admission = new ClusterAdmission(this.#redis, this.#queue, {
      caps: {
        maxWaitingPerUser: options.maxWaitingPerUser ?? 2,
        maxPerGuild: options.maxPerGuild ?? Number.POSITIVE_INFINITY,
        maxQueueLength: options.maxQueueLength ?? 50,
      },
      attempts: options.attempts ?? 3,
      reservationMs: options.reservationMs ?? 10 * 60_000,
      livenessMs: options.livenessMs ?? 15_000,
    });
    const onError = options.onError ?? (() => {});
    this.#queue.on('error', onError);
    this.#events.on('error', onError);
    this.#events.on('active', ({ jobId }) => this.#started(jobId));
    this.#events.on('progress', ({ jobId, data }) => this.#progress(jobId, data));
    this.#events.on('completed', ({ jobId }) => this.#ended(jobId));
    this.#events.on('failed', ({ jobId }) => this.#ended(jobId));
    this.#events.on('removed', ({ jobId }) => this.#ended(jobId));
    for (const event of ['added', 'waiting', 'stalled'] as const) this.#events.on(event, () => this.#refresh());
    // Events are not replayed after a reconnect: followed jobs are also looked up now and then.
    this.#poll = setInterval(() => {
      for (const id of this.#followed.keys()) void this.#ended(id, { quiet: true });
      this.#refresh();
    }, options.pollMs ?? 5_000);
    this.#poll.unref();
  }

  static async start(options: ClusterQueueOptions): Promise<ClusterQueue> {
    const queue = new ClusterQueue(options);
    await Promise.all([queue.#queue.waitUntilReady(), queue.#events.waitUntilReady(), queue.#redis.ping()]);
    await queue.#refreshNow();
    return queue;
  }

  get accepting(): boolean {
    return !this.#closed;
  }

  /** Jobs the live model workers run at once, all together. */
  get concurrency(): number {
    return this.#snapshot.concurrency;
  }

  /**
   * Throws what a submit would be refused with right now (and the refusal of the server's `jobsPerUser`
   * cap, 0: none); returns whether the job would start at once. A look, not a hold: reserve() holds.
   */
  async assertAccepts(userId: string, guildId: string | null, jobsPerUser = 0): Promise<boolean> {
    if (this.#closed) throw new QueueClosedError();
    return this.#admission.assertAccepts(userId, guildId, jobsPerUser);
  }

  /** Takes a place for job `id` before the slow part of making it, for every gateway at once (ClusterAdmission.reserve). */
  async reserve(id: string, userId: string, guildId: string | null, jobsPerUser = 0): Promise<QueueReservation> {
    if (this.#closed) throw new QueueClosedError();
    return this.#admission.reserve(id, userId, guildId, jobsPerUser);
  }

  /**
   * Adds job `id` (once: a job already in the queue, or already ended, is followed instead) and follows
   * it until it ends; the handle's result resolves when a worker finished it, and rejects with the
   * worker's error, a CancelledError, or the admission's QueueFullError.
   */
  follow(job: { id: string; userId: string; guildId: string | null }, hooks: RunHooks = {}): JobHandle<void> {
    if (this.#closed) throw new QueueClosedError();
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const result = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    result.catch(() => {});
    const followed: Followed = { id: job.id, state: 'waiting', hooks, resolve, reject, settled: false };
    this.#followed.set(job.id, followed);
    this.#admission
      .add(job)
      .then(() => {
        this.#refresh();
        return this.#ended(job.id, { quiet: true });
      })
      .catch((err: unknown) => this.#settle(followed, 'failed', err));
    return {
      id: job.id,
      result,
      get state() {
        return followed.state;
      },
      cancel: (message?: string) => this.cancel(job.id, message),
    };
  }

  /** Cancels a job: removed if still waiting, else its worker is told to stop. False when this process knows it ended. */
  cancel(id: string, message?: string): boolean {
    const followed = this.#followed.get(id);
    if (followed?.settled) return false;
    if (followed) followed.cancelMessage = message ?? 'Cancelled.';
    void (async () => {
      const job = await this.#queue.getJob(id);
      if (!job) return;
      // remove() refuses a job a worker holds (locked): that one is stopped through the channel.
      const removed = await job.remove().then(() => true, () => false);
      if (!removed) {
        // Marked first: a worker that took the job a moment ago checks the mark before it runs it.
        await this.#redis.set(KEYS.cancelledPrefix + id, '1', 'EX', 3600);
        await this.#redis.publish(KEYS.cancelChannel, id);
      } else if (followed) this.#settle(followed, 'cancelled', new CancelledError(followed.cancelMessage));
    })().catch(() => {});
    return true;
  }

  /**
   * BullMQ keeps a finished job (its data names the user) for a day, a failed one for a week: forget-me
   * removes the user's at once. Jobs still waiting or running were cancelled by then and end as failed.
   */
  async forgetUser(userId: string): Promise<number> {
    const finished = await this.#queue.getJobs(['completed', 'failed']);
    let removed = 0;
    for (const job of finished) {
      if (job?.data?.userId !== userId) continue;
      await job.remove();
      removed++;
    }
    return removed;
  }

  snapshot(): QueueSnapshot {
    return this.#snapshot;
  }

  eta(id: string, averageJobMs: number): JobEta | null {
    const now = Date.now();
    const running = this.#snapshot.running.find((r) => r.id === id);
    if (running) return { position: 0, startsInMs: 0, finishesInMs: Math.max(0, running.startedAt + averageJobMs - now) };
    const waiting = this.#snapshot.waiting.find((w) => w.id === id);
    if (!waiting) return null;
    return projectEta({
      position: waiting.position,
      concurrency: Math.max(1, this.#snapshot.concurrency),
      runningStartedAt: this.#snapshot.running.map((r) => r.startedAt),
      averageJobMs,
      now,
    });
  }

  subscribe(listener: (snapshot: QueueSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Average duration of the last jobs any worker ran (a first guess before any). */
  averageJobMs(): number {
    if (this.#durations.length === 0) return 60_000;
    return this.#durations.reduce((a, b) => a + b, 0) / this.#durations.length;
  }

  /**
   * Stops taking jobs. Queued and running jobs are not this process's to stop: workers finish them and
   * their results are posted by a gateway that is up (this one after its restart).
   */
  async drain(): Promise<DrainResult> {
    this.#closed = true;
    await this.#admission.releaseHeld();
    this.#snapshot = { ...this.#snapshot, accepting: false };
    return { cancelledWaiting: 0, finished: 0, aborted: 0, stuck: 0 };
  }

  /** Disconnects. Followed jobs are left unsettled: they go on on the workers, and a gateway that starts later posts them. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    this.#admission.stop();
    await Promise.allSettled([this.#events.close(), this.#queue.close()]);
    for (const c of [this.#redis, ...this.#connections]) c.disconnect();
  }

  // -------------------------------------------------------------------------------------- internals

  #started(jobId: string): void {
    const f = this.#followed.get(jobId);
    if (f && !f.settled && f.state !== 'running') {
      f.state = 'running';
      f.hooks.onStart?.();
    }
    this.#refresh();
  }

  #progress(jobId: string, data: unknown): void {
    const f = this.#followed.get(jobId);
    if (!f || f.settled) return;
    const p = data as { done?: number; total?: number };
    if (f.state !== 'running') this.#started(jobId);
    if (typeof p.done === 'number' && typeof p.total === 'number') f.hooks.onStep?.(p.done, p.total);
  }

  /** Settles a followed job from its state in Redis, if it has ended. */
  async #ended(jobId: string, { quiet = false } = {}): Promise<void> {
    if (!quiet) this.#refresh();
    const f = this.#followed.get(jobId);
    if (!f || f.settled) return;
    // Redis away: nothing is decided now; the poll looks again once it is back.
    let job: Job<ClusterJobData> | undefined;
    let state: string;
    try {
      job = await this.#queue.getJob(jobId);
      state = job ? await job.getState() : 'unknown';
    } catch {
      return;
    }
    if (state === 'completed') return this.#settle(f, 'done');
    if (state === 'failed') {
      const err = decodeFailure(job!.failedReason);
      // A cancel from this process says who cancelled, as the in-process queue does.
      if (err instanceof CancelledError) return this.#settle(f, 'cancelled', f.cancelMessage ? new CancelledError(f.cancelMessage) : err);
      return this.#settle(f, 'failed', err);
    }
    if (state === 'active' && f.state === 'waiting') return this.#started(jobId);
    // Gone without ending: removed while waiting (a cancel from any gateway), or never added.
    if (!job && !quiet) this.#settle(f, 'cancelled', new CancelledError(f.cancelMessage));
  }

  #settle(f: Followed, state: 'done' | 'failed' | 'cancelled', err?: unknown): void {
    if (f.settled) return;
    f.settled = true;
    f.state = state;
    this.#followed.delete(f.id);
    if (state === 'done') f.resolve();
    else f.reject(err);
  }

  /** Refreshes the queue's picture soon (coalesced: one read at a time, one more if asked meanwhile). */
  #refresh(): void {
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return;
    }
    this.#refreshing = this.#refreshNow()
      .catch(() => {})
      .finally(() => {
        this.#refreshing = undefined;
        if (this.#refreshAgain) {
          this.#refreshAgain = false;
          setTimeout(() => this.#refresh(), 250).unref();
        }
      });
  }

  async #refreshNow(): Promise<void> {
    const [waiting, active, capacity, durations] = await Promise.all([
      waitingJobs(this.#queue),
      this.#queue.getJobs(['active']),
      liveCapacity(this.#redis),
      this.#redis.lrange(KEYS.durations, 0, 19),
    ]);
    this.#durations = durations.map(Number).filter((n) => Number.isFinite(n) && n > 0);
    this.#snapshot = {
      concurrency: capacity,
      accepting: !this.#closed,
      running: active
        .filter((j): j is Job<ClusterJobData> => Boolean(j?.id))
        .map((j) => ({ id: j.id!, userId: j.data.userId, guildId: j.data.guildId, startedAt: j.processedOn ?? Date.now(), cancelling: false })),
      waiting: waiting.map((j, i) => ({ id: j.id!, userId: j.data.userId, guildId: j.data.guildId, position: i + 1, enqueuedAt: j.data.enqueuedAt })),
    };
    for (const listener of [...this.#listeners]) {
      try {
        listener(this.#snapshot);
      } catch {
        // A listener's failure (e.g. a message edit) must not stop the others.
      }
    }
  }
}
