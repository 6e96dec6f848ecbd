import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { CancelledError, JobTimeoutError, UserFacingError } from '../../errors.ts';
import { EngineCrashedError, EngineStuckError } from '../../runtime/engine-errors.ts';
import type { JobRecord, Stores } from '../../store/index.ts';
import { isStoreOutage, StoreUnavailableError } from '../../store/store-outage.ts';
import type { JobOutcome, RunHooks } from '../job-outcome.ts';
import { oncePerOutage } from '../../util/outage-log.ts';
import { JobLife } from '../job-life.ts';
import { BULL_PREFIX, KEYS, QUEUE_NAME, redisConnection } from './cluster-names.ts';
import type { ClusterJobData } from './cluster-reads.ts';
import { encodeFailure } from './failure-wire.ts';

/** Progress reaches the gateways at most this often (every step would flood BullMQ's event stream). */
const PROGRESS_EVERY_MS = 1_000;
const HEARTBEAT_MS = 5_000;
/** Pauses while the store is away, doubling from the first to the longest. */
const STORE_WAIT_FIRST_MS = 250;
const STORE_WAIT_MAX_MS = 5_000;

// Raises the virtual time to a started job's priority, never lowers it (see fairPriority).
const RAISE_VIRTUAL_TIME = `local v = tonumber(redis.call('get', KEYS[1]) or '0') if tonumber(ARGV[1]) > v then redis.call('set', KEYS[1], ARGV[1]) end return 0`;

export interface ModelWorkerOptions {
  redisUrl: string;
  stores: Stores;
  /** Runs one stored job on this process's engine (runStoredJob bound to the engine). */
  run: (job: JobRecord, signal: AbortSignal, hooks: RunHooks) => Promise<JobOutcome>;
  /** Jobs taken at once: the engine batches what it holds (slots x jobs per batch). */
  concurrency: number;
  /** A job still running after this long is stopped (ms). */
  maxRunMs: number;
  /** How long a job stays ours without a lock renewal: a worker killed mid-job gives it back after this (ms, default 30 s). */
  lockMs?: number;
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * A model worker process's side of the shared queue: takes jobs from BullMQ, runs each on the engine,
 * reports progress, keeps the finished images in the store for a gateway to post, and tells every
 * gateway how many jobs it takes (a key it renews). A job whose worker dies is given back by BullMQ's
 * stalled-job check and run again elsewhere (at least once); a job that fails for its own reasons
 * (bad input, cancelled, too slow) is not run again.
 */
export class ModelWorker {
  readonly id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly #options: ModelWorkerOptions;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #workerConnection: Redis;
  readonly #worker: Worker<ClusterJobData>;
  readonly #running = new Map<string, AbortController>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #storeDown: (err: unknown) => void;

  private constructor(options: ModelWorkerOptions) {
    this.#options = options;
    this.#redis = redisConnection(options.redisUrl);
    this.#subscriber = redisConnection(options.redisUrl);
    this.#workerConnection = redisConnection(options.redisUrl);
    const lockDuration = options.lockMs ?? 30_000;
    this.#worker = new Worker<ClusterJobData>(QUEUE_NAME, (job, token, signal) => this.#process(job, signal), {
      // BullMQ leaves a connection it was given open at close(): close() ends it.
      connection: this.#workerConnection,
      prefix: BULL_PREFIX,
      concurrency: options.concurrency,
      lockDuration,
      stalledInterval: Math.max(1_000, Math.floor(lockDuration / 2)),
      // A job given back twice fails at its third stall: it is likely the job that kills its workers.
      maxStalledCount: 2,
      autorun: false,
      name: this.id,
    });
    const tell = (fields: object, msg: string) => options.logger?.error(fields, msg);
    this.#worker.on('error', oncePerOutage(tell, 'queue (Redis)'));
    this.#storeDown = oncePerOutage(tell, 'store (while running a job)');
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  static async start(options: ModelWorkerOptions): Promise<ModelWorker> {
    const worker = new ModelWorker(options);
    await worker.#subscriber.subscribe(KEYS.cancelChannel);
    worker.#subscriber.on('message', (_channel: string, jobId: string) => worker.#running.get(jobId)?.abort(new CancelledError()));
    await worker.#beat();
    void worker.#worker.run();
    await worker.#worker.waitUntilReady();
    options.logger?.info({ worker: worker.id, concurrency: options.concurrency }, 'model worker taking jobs');
    return worker;
  }

  /** Jobs this worker is running now. */
  get busy(): number {
    return this.#running.size;
  }

  /** Whether it is connected and taking jobs (the health check). */
  get healthy(): boolean {
    return this.#worker.isRunning() && this.#redis.status === 'ready';
  }

  /**
   * Stops taking jobs and lets the running ones finish (graceful shutdown); with `force`, gives them
   * back at once for another worker to run.
   */
  async close({ force = false } = {}): Promise<void> {
    clearInterval(this.#heartbeat);
    await this.#redis.del(`${KEYS.workerPrefix}${this.id}`).catch(() => {});
    await this.#worker.close(force);
    for (const c of [this.#subscriber, this.#redis, this.#workerConnection]) c.disconnect();
  }

  async #beat(): Promise<void> {
    await this.#redis.set(`${KEYS.workerPrefix}${this.id}`, String(this.#options.concurrency), 'PX', HEARTBEAT_MS * 3).catch(() => {});
  }

  async #process(job: Job<ClusterJobData>, bullSignal?: AbortSignal): Promise<{ jobId: string }> {
    const id = job.id!;
    const { stores, logger } = this.#options;
    const controller = new AbortController();
    this.#running.set(id, controller);
    bullSignal?.addEventListener('abort', () => controller.abort(new CancelledError()), { once: true });
    const deadline = setTimeout(() => controller.abort(new JobTimeoutError(this.#options.maxRunMs)), this.#options.maxRunMs);
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      // The store away (Redis restarting) is waited out here, with back-off, for as long as the job's
      // deadline allows, instead of spending the job's runs on it.
      for (let pause = STORE_WAIT_FIRST_MS; ; pause = Math.min(pause * 2, STORE_WAIT_MAX_MS)) {
        try {
          return await this.#attempt(job, controller);
        } catch (err) {
          if (controller.signal.aborted || !isStoreOutage(err)) throw err;
          this.#storeDown(err);
          await abortableSleep(pause, controller.signal);
        }
      }
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      const cause = controller.signal.aborted ? controller.signal.reason : err;
      // A dead engine is this worker's trouble, not the job's: another attempt may succeed.
      const retry = !final && (cause instanceof EngineCrashedError || cause instanceof EngineStuckError || isStoreOutage(cause));
      logger?.warn({ job: id, code: (cause as UserFacingError)?.code, retry }, 'job failed');
      if (!retry) {
        const status = cause instanceof CancelledError ? 'cancelled' : 'failed';
        await new JobLife(stores).settled(id, status, cause).catch(() => {});
        throw new UnrecoverableError(encodeFailure(cause));
      }
      // BullMQ keeps only the message: the failure travels encoded in it.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(encodeFailure(cause));
    } finally {
      clearTimeout(deadline);
      this.#running.delete(id);
    }
  }

  /** One try at a job: draws it unless its images are already kept (JobLife.drawn) or posted. */
  async #attempt(job: Job<ClusterJobData>, controller: AbortController): Promise<{ jobId: string }> {
    const id = job.id!;
    const { stores } = this.#options;
    await this.#redis.eval(RAISE_VIRTUAL_TIME, 1, KEYS.virtualTime, String(job.opts.priority ?? 0));
    const record = await stores.jobs.get(id);
    if (!record) throw new UnrecoverableError(encodeFailure(new CancelledError('That image was deleted before it was made.')));
    if (await this.#redis.exists(KEYS.cancelledPrefix + id)) controller.abort(new CancelledError());
    controller.signal.throwIfAborted();
    // A run whose images are already kept (its worker died after keeping them) or posted is not drawn again.
    if (record.status === 'drawn' || record.status === 'done' || (await stores.jobs.keptResult(id))) return { jobId: id };
    const started = performance.now();
    let lastProgress = 0;
    await this.#options.run(record, controller.signal, {
      onStep: (done, total) => {
        const now = Date.now();
        if (done < total && now - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = now;
        void job.updateProgress({ done, total }).catch(() => {});
      },
    });
    // runStoredJob kept the images with the record (JobLife.drawn); without them no gateway could post it.
    if (!(await stores.jobs.keptResult(id))) throw new StoreUnavailableError();
    await this.#redis
      .multi()
      .lpush(KEYS.durations, String(Math.round(performance.now() - started)))
      .ltrim(KEYS.durations, 0, 19)
      .exec()
      .catch(() => {});
    return { jobId: id };
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted(): void {
      clearTimeout(timer);
      reject(signal.reason);
    }
    signal.addEventListener('abort', aborted, { once: true });
  });
}
