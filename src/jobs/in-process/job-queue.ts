import { CancelledError, JobTimeoutError, QueueClosedError, UserFacingError } from '../../errors.ts';
import { admissionRefusal } from '../admission/admission-rules.ts';
import { projectEta } from '../eta.ts';
import { nextJob, projectedOrder } from './fair-turns.ts';
import type { JobHandle, JobState } from '../job-runner.ts';
import type { DrainOptions, DrainResult, JobEta, QueueReservation, QueueSnapshot, QueueView } from '../queue-view.ts';

/**
 * The generation queue: a fixed concurrency (jobs that run at once), fair between users.
 * Limits over time (images per hour or day) are not its business: quota.ts keeps those with bottleneck.
 *
 * Fairness: a plain FIFO would make everyone behind a user who submits three jobs wait for all three.
 * This class keeps one FIFO list per user and, whenever a job ends, starts the head job of the user who
 * was served LEAST RECENTLY (fair-turns.ts; users who were never served, or not since they were last
 * idle, come first; ties go to the older job), skipping users who already have `maxRunningPerUser` jobs
 * running. That is round-robin across users and FIFO within a user: A submits 3 and B submits 1 ->
 * A1, B1, A2, A3.
 *
 * Admission (admission/admission-rules.ts): submit() throws QueueFullError (an InputError, its message
 * fit for the user) when the user already has `maxWaitingPerUser` jobs waiting, the server has
 * `maxPerGuild` jobs waiting or running, or `maxQueueLength` jobs are waiting in all; QueueClosedError
 * once drain() has begun. A job that can start at once never counts as waiting. reserve() also takes the
 * server's own cap on one member's jobs there (jobs_per_user), decided with the others in the same step.
 *
 * Reservations: a front end that does slow work before it can submit (downloading and storing photos)
 * calls reserve(jobId, …) first. That is the admission check, done once: the reservation holds a place
 * that counts against the per-user, per-server and total caps exactly as a submitted job would (so N
 * callers at once against a cap of K get K places, never more), and submit() with the same id turns it
 * into the job without checking again. It is not a job: it has no queue position and moves no one. It
 * must be released if the job is never submitted (release() is idempotent); one left behind expires
 * after `reservationMs` as a safety net, and drain() drops them all.
 *
 * Cancelling: a waiting job is removed and its result rejects with CancelledError. A running job's
 * AbortSignal fires (reason: the CancelledError) and its result rejects at once; its place is given back
 * only when the runner actually returns, because until then the GPU is still busy. Runners should check
 * the signal between steps (`signal.throwIfAborted()`).
 *
 * A runner that throws fails only its own job (result rejects with that error); the queue goes on.
 */

export { JobTimeoutError, QueueClosedError, QueueFullError, type QueueLimit } from '../../errors.ts';

export interface JobQueueOptions {
  /** Jobs running at once (default 1). */
  concurrency?: number;
  /** Jobs one user may have waiting, besides those running (default 2). */
  maxWaitingPerUser?: number;
  /** Jobs one user may have running at once (default 1). */
  maxRunningPerUser?: number;
  /** Jobs of one server, waiting or running (default unlimited). */
  maxPerGuild?: number;
  /** Jobs waiting in all (default 50). */
  maxQueueLength?: number;
  /** Abort a running job after this long (default: never). */
  maxRunMs?: number;
  /** A reservation not submitted or released within this long is dropped (default 10 minutes). */
  reservationMs?: number;
  /** Called (once per burst of changes, on a microtask) when jobs are added, start, end or move. */
  onChange?: (snapshot: QueueSnapshot) => void;
  now?: () => number;
}

export interface QueueJob<T> {
  /** Unique among queued and running jobs (e.g. the job record's id). */
  id: string;
  userId: string;
  guildId: string | null;
  run: (signal: AbortSignal) => Promise<T>;
}

interface Reserved {
  id: string;
  userId: string;
  guildId: string | null;
  startsNow: boolean;
  timer: NodeJS.Timeout;
}

interface Entry {
  id: string;
  userId: string;
  guildId: string | null;
  run: (signal: AbortSignal) => Promise<unknown>;
  seq: number;
  enqueuedAt: number;
  startedAt?: number;
  state: JobState;
  controller: AbortController;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  settled: boolean;
  released: boolean;
  timer?: NodeJS.Timeout;
}

export class JobQueue implements QueueView {
  readonly concurrency: number;
  readonly maxWaitingPerUser: number;
  readonly maxRunningPerUser: number;
  readonly maxPerGuild: number;
  readonly maxQueueLength: number;
  readonly maxRunMs?: number;
  readonly reservationMs: number;

  readonly #now: () => number;
  readonly #waiting = new Map<string, Entry[]>(); // per user, FIFO
  readonly #running = new Map<string, Entry>(); // started and not yet returned
  readonly #runningByUser = new Map<string, number>();
  readonly #lastServed = new Map<string, number>(); // user -> serve tick, while the user has jobs
  readonly #byId = new Map<string, Entry>(); // waiting or running
  readonly #reserved = new Map<string, Reserved>(); // places held for jobs not yet submitted
  readonly #listeners = new Set<(snapshot: QueueSnapshot) => void>();
  #idleWaiters: (() => void)[] = [];
  #seq = 0;
  #tick = 0;
  #closed = false;
  #notifyQueued = false;
  #order?: Entry[];

  constructor(options: JobQueueOptions = {}) {
    this.concurrency = positiveInt(options.concurrency ?? 1, 'concurrency');
    this.maxWaitingPerUser = nonNegativeInt(options.maxWaitingPerUser ?? 2, 'maxWaitingPerUser');
    this.maxRunningPerUser = positiveInt(options.maxRunningPerUser ?? 1, 'maxRunningPerUser');
    this.maxPerGuild = options.maxPerGuild === undefined ? Infinity : positiveInt(options.maxPerGuild, 'maxPerGuild');
    this.maxQueueLength = nonNegativeInt(options.maxQueueLength ?? 50, 'maxQueueLength');
    if (options.maxRunMs !== undefined) this.maxRunMs = positiveInt(options.maxRunMs, 'maxRunMs');
    this.reservationMs = positiveInt(options.reservationMs ?? 10 * 60_000, 'reservationMs');
    this.#now = options.now ?? Date.now;
    if (options.onChange) this.#listeners.add(options.onChange);
  }

  get accepting(): boolean {
    return !this.#closed;
  }

  get waitingCount(): number {
    let n = 0;
    for (const list of this.#waiting.values()) n += list.length;
    return n;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /** Places held by reservations not yet submitted or released. */
  get reservedCount(): number {
    return this.#reserved.size;
  }

  /**
   * Throws what submit() would throw for this user and server right now (and the refusal of the server's
   * `jobsPerUser` cap, 0: none), so a caller can refuse before it downloads and stores anything. Returns
   * whether the job would start at once.
   */
  assertAccepts(userId: string, guildId: string | null, jobsPerUser = 0): boolean {
    if (this.#closed) throw new QueueClosedError();
    // Held places count as the jobs they will become: starting at once or waiting, as when they were taken.
    let resRunning = 0;
    let resUserRunning = 0;
    let resWaiting = 0;
    let resUserWaiting = 0;
    let resGuild = 0;
    let resUserGuild = 0;
    for (const r of this.#reserved.values()) {
      if (r.startsNow) resRunning++;
      else resWaiting++;
      if (r.userId === userId) {
        if (r.startsNow) resUserRunning++;
        else resUserWaiting++;
      }
      if (guildId !== null && r.guildId === guildId) {
        resGuild++;
        if (r.userId === userId) resUserGuild++;
      }
    }
    const userWaiting = (this.#waiting.get(userId)?.length ?? 0) + resUserWaiting;
    const startsNow =
      this.#running.size + resRunning < this.concurrency &&
      (this.#runningByUser.get(userId) ?? 0) + resUserRunning < this.maxRunningPerUser &&
      userWaiting === 0;
    let inGuild = resGuild;
    let userInGuild = resUserGuild;
    if (guildId !== null) {
      for (const e of this.#byId.values()) {
        if (e.guildId !== guildId || e.settled) continue;
        inGuild++;
        if (e.userId === userId) userInGuild++;
      }
    }
    const refusal = admissionRefusal(
      { startsNow, userWaiting, userInGuild, inGuild, waiting: this.waitingCount + resWaiting, guildId },
      { maxWaitingPerUser: this.maxWaitingPerUser, maxPerGuild: this.maxPerGuild, maxQueueLength: this.maxQueueLength },
      jobsPerUser,
    );
    if (refusal) throw refusal;
    return startsNow;
  }

  /**
   * Takes a place for job `id` now, before the slow part of making it: throws what submit() would throw
   * (QueueFullError / QueueClosedError), else holds the place until submit() with the same id, user and
   * server turns it into the job, or until release() / expiry. Synchronous, so concurrent callers are
   * admitted one after another and the caps hold (`jobsPerUser` as in assertAccepts).
   */
  reserve(id: string, userId: string, guildId: string | null, jobsPerUser = 0): QueueReservation & { release(): boolean } {
    if (typeof id !== 'string' || id === '') throw new TypeError('job id must be a non-empty string');
    if (this.#byId.has(id) || this.#reserved.has(id)) throw new Error(`job ${id} is already in the queue`);
    const startsNow = this.assertAccepts(userId, guildId, jobsPerUser);
    const timer = setTimeout(() => this.#unreserve(reserved), this.reservationMs);
    timer.unref?.();
    const reserved: Reserved = { id, userId, guildId, startsNow, timer };
    this.#reserved.set(id, reserved);
    const queue = this;
    return {
      id,
      startsNow,
      get held() {
        return queue.#reserved.get(id) === reserved;
      },
      release: () => this.#unreserve(reserved),
    };
  }

  /** Queues a job, or starts it at once if fewer than `concurrency` run. Throws QueueFullError / QueueClosedError. */
  submit<T>(job: QueueJob<T>): JobHandle<T> {
    // A place reserved for this id is used up here, whether the job goes in or not.
    const reserved = this.#reserved.get(job.id);
    if (reserved) this.#unreserve(reserved);
    if (this.#closed) throw new QueueClosedError();
    if (typeof job.id !== 'string' || job.id === '') throw new TypeError('job id must be a non-empty string');
    if (this.#byId.has(job.id)) throw new Error(`job ${job.id} is already in the queue`);
    const { userId, guildId } = job;
    // Admitted when the place was reserved; a reserved job is never refused for the caps.
    if (!reserved || reserved.userId !== userId || reserved.guildId !== guildId) this.assertAccepts(userId, guildId);

    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const result = new Promise<T>((res, rej) => {
      resolve = res as (value: unknown) => void;
      reject = rej;
    });
    // Marked as handled so a cancelled job nobody awaits cannot crash the process; awaiting still throws.
    result.catch(() => {});
    const entry: Entry = {
      id: job.id,
      userId,
      guildId,
      run: job.run,
      seq: ++this.#seq,
      enqueuedAt: this.#now(),
      state: 'waiting',
      controller: new AbortController(),
      resolve,
      reject,
      settled: false,
      released: false,
    };
    this.#byId.set(entry.id, entry);
    const list = this.#waiting.get(userId);
    if (list) list.push(entry);
    else this.#waiting.set(userId, [entry]);
    this.#dispatch();
    this.#changed();

    const queue = this;
    return {
      id: entry.id,
      result,
      get state() {
        return entry.state;
      },
      cancel: (message?: string) => queue.#cancelEntry(entry, new CancelledError(message)),
    };
  }

  /** Cancels a waiting or running job by id; false if unknown or already ended. */
  cancel(id: string, message?: string): boolean {
    const entry = this.#byId.get(id);
    return entry ? this.#cancelEntry(entry, new CancelledError(message)) : false;
  }

  /** 1-based place among waiting jobs, 0 when running, null when unknown or ended. */
  position(id: string): number | null {
    const entry = this.#byId.get(id);
    if (!entry || entry.settled) return null;
    if (entry.state === 'running') return 0;
    return this.#projectedOrder().indexOf(entry) + 1;
  }

  /** Finished jobs leave nothing here (their records are the store's). */
  async forgetUser(_userId: string): Promise<number> {
    return 0;
  }

  snapshot(): QueueSnapshot {
    return {
      concurrency: this.concurrency,
      accepting: !this.#closed,
      running: [...this.#running.values()].map((e) => ({
        id: e.id,
        userId: e.userId,
        guildId: e.guildId,
        startedAt: e.startedAt ?? e.enqueuedAt,
        cancelling: e.settled,
      })),
      waiting: this.#projectedOrder().map((e, i) => ({
        id: e.id,
        userId: e.userId,
        guildId: e.guildId,
        position: i + 1,
        enqueuedAt: e.enqueuedAt,
      })),
    };
  }

  /**
   * A simple estimate from the average duration of a job: running jobs end at startedAt + average (or
   * now), each place then takes the waiting jobs ahead in order. Ignores the per-user running limit.
   */
  eta(id: string, averageJobMs: number): JobEta | null {
    const entry = this.#byId.get(id);
    if (!entry || entry.settled) return null;
    const avg = Math.max(0, averageJobMs);
    const now = this.#now();
    if (entry.state === 'running') {
      return { position: 0, startsInMs: 0, finishesInMs: Math.max(0, (entry.startedAt ?? now) + avg - now) };
    }
    const position = this.#projectedOrder().indexOf(entry) + 1;
    const runningStartedAt = [...this.#running.values()].map((e) => (e.settled ? now - avg : (e.startedAt ?? now)));
    return projectEta({ position, concurrency: this.concurrency, runningStartedAt, averageJobMs: avg, now });
  }

  /** Adds a change listener (like the onChange option); returns a function that removes it. */
  subscribe(listener: (snapshot: QueueSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Graceful shutdown: stop accepting, cancel every waiting job, give running jobs `waitMs` to finish,
   * then abort them and wait up to `graceMs` for their runners to return.
   */
  async drain(options: DrainOptions = {}): Promise<DrainResult> {
    const waitMs = options.waitMs ?? 30_000;
    const graceMs = options.graceMs ?? 5_000;
    this.#closed = true;
    for (const r of [...this.#reserved.values()]) this.#unreserve(r);
    let cancelledWaiting = 0;
    const message = options.message ?? 'The bot is restarting, so your image was not started; please try again in a minute.';
    for (const list of [...this.#waiting.values()]) {
      for (const entry of [...list]) if (this.#cancelEntry(entry, new CancelledError(message))) cancelledWaiting++;
    }
    const runningAtStart = [...this.#running.values()].filter((e) => !e.settled).length;
    await this.#waitIdle(waitMs);
    let aborted = 0;
    for (const entry of [...this.#running.values()]) {
      if (this.#cancelEntry(entry, new CancelledError('The bot is restarting, so your image was stopped; please try again in a minute.'))) {
        aborted++;
      }
    }
    if (this.#running.size > 0) await this.#waitIdle(graceMs);
    const stuck = this.#running.size;
    this.#changed();
    return { cancelledWaiting, finished: Math.max(0, runningAtStart - aborted), aborted, stuck };
  }

  // -------------------------------------------------------------------------------------- internals

  #unreserve(reserved: Reserved): boolean {
    if (this.#reserved.get(reserved.id) !== reserved) return false;
    clearTimeout(reserved.timer);
    this.#reserved.delete(reserved.id);
    return true;
  }

  #cancelEntry(entry: Entry, reason: UserFacingError, state: 'cancelled' | 'failed' = 'cancelled'): boolean {
    if (entry.settled) return false;
    if (entry.state === 'waiting') {
      this.#removeWaiting(entry);
      this.#byId.delete(entry.id);
      this.#settle(entry, state, undefined, reason);
      this.#forgetUserIfIdle(entry.userId);
      this.#changed();
      return true;
    }
    // Running: tell the runner, answer now; the place is released when the runner returns.
    entry.controller.abort(reason);
    this.#settle(entry, state, undefined, reason);
    this.#changed();
    return true;
  }

  #dispatch(): void {
    while (this.#running.size < this.concurrency) {
      const next = this.#pickNext();
      if (!next) return;
      this.#start(next);
    }
  }

  /** The next job to start among users with room to run one. */
  #pickNext(): Entry | undefined {
    const heads: Entry[] = [];
    for (const [userId, list] of this.#waiting) {
      if ((this.#runningByUser.get(userId) ?? 0) < this.maxRunningPerUser) heads.push(list[0]);
    }
    return nextJob(heads, (userId) => this.#lastServed.get(userId) ?? 0);
  }

  #start(entry: Entry): void {
    this.#removeWaiting(entry);
    entry.state = 'running';
    entry.startedAt = this.#now();
    this.#running.set(entry.id, entry);
    this.#runningByUser.set(entry.userId, (this.#runningByUser.get(entry.userId) ?? 0) + 1);
    this.#lastServed.set(entry.userId, ++this.#tick);
    if (this.maxRunMs !== undefined) {
      const ms = this.maxRunMs;
      entry.timer = setTimeout(() => this.#cancelEntry(entry, new JobTimeoutError(ms), 'failed'), ms);
    }
    // Started after the caller of submit() has its handle: a runner may report progress at once.
    queueMicrotask(() => void this.#execute(entry));
  }

  async #execute(entry: Entry): Promise<void> {
    const signal = entry.controller.signal;
    try {
      signal.throwIfAborted();
      const value = await entry.run(signal);
      if (signal.aborted) this.#settle(entry, 'cancelled', undefined, signal.reason);
      else this.#settle(entry, 'done', value);
    } catch (error) {
      if (signal.aborted) this.#settle(entry, 'cancelled', undefined, signal.reason);
      else this.#settle(entry, 'failed', undefined, error);
    } finally {
      this.#release(entry);
    }
  }

  #settle(entry: Entry, state: 'done' | 'failed' | 'cancelled', value?: unknown, error?: unknown): void {
    if (entry.settled) return;
    entry.settled = true;
    entry.state = state;
    clearTimeout(entry.timer);
    if (state === 'done') entry.resolve(value);
    else entry.reject(error);
  }

  #release(entry: Entry): void {
    if (entry.released) return;
    entry.released = true;
    clearTimeout(entry.timer);
    this.#running.delete(entry.id);
    this.#byId.delete(entry.id);
    const n = (this.#runningByUser.get(entry.userId) ?? 1) - 1;
    if (n > 0) this.#runningByUser.set(entry.userId, n);
    else this.#runningByUser.delete(entry.userId);
    this.#forgetUserIfIdle(entry.userId);
    if (!this.#closed || this.#waiting.size > 0) this.#dispatch();
    this.#changed();
    if (this.#running.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  #removeWaiting(entry: Entry): void {
    const list = this.#waiting.get(entry.userId);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#waiting.delete(entry.userId);
  }

  /** A user with nothing waiting or running counts as never served (bounded memory, same order). */
  #forgetUserIfIdle(userId: string): void {
    if (!this.#waiting.has(userId) && !this.#runningByUser.has(userId)) this.#lastServed.delete(userId);
  }

  /** Waiting jobs in the order #pickNext would start them if every user could run (cached until a change). */
  #projectedOrder(): Entry[] {
    this.#order ??= projectedOrder(this.#waiting, this.#lastServed, this.#tick);
    return this.#order;
  }

  #changed(): void {
    this.#order = undefined;
    if (this.#notifyQueued || this.#listeners.size === 0) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      const snapshot = this.snapshot();
      for (const listener of [...this.#listeners]) {
        try {
          listener(snapshot);
        } catch {
          // A listener's failure (e.g. a message edit) must not break the queue.
        }
      }
    });
  }

  #waitIdle(ms: number): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#idleWaiters.push(done);
    });
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegativeInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

