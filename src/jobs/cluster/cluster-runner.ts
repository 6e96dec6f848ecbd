import { QueueClosedError, QueueFullError, UserFacingError } from '../../errors.ts';
import type { JobRecord, Stores } from '../../store/index.ts';
import { isStoreOutage } from '../../store/store-outage.ts';
import type { JobOutcome, RunHooks } from '../job-outcome.ts';
import type { JobHandle, JobRunner, JobState } from '../job-runner.ts';
import { JobLife } from '../job-life.ts';
import { outcomeFromKept } from '../kept-outcome.ts';
import { LiveJobs } from '../live-jobs.ts';
import type { ClusterQueue } from './cluster-queue.ts';

/** The job ended, but its images were already taken by another process (which posts them). */
export class ResultTakenError extends UserFacingError {
  declare readonly code: 'result_taken';

  constructor() {
    super('result_taken', 'Your image is done and is being posted.');
  }
}

/**
 * The gateway's GenerationService when jobs run on model workers (JOB_QUEUE=redis): submits stored
 * jobs to the shared queue and, when a worker has finished one, reads its images back from the store.
 * Same surface as GenerationService, so the bot does not know where jobs run.
 */
export class ClusterRunner implements JobRunner {
  /** A job a dead gateway left went on on its worker: it is followed again, not run again (restart-recovery). */
  readonly afterRestart = 'follow' as const;
  readonly #queue: ClusterQueue;
  readonly #stores: Stores;
  readonly #live: LiveJobs<JobOutcome>;

  constructor(queue: ClusterQueue, stores: Stores) {
    this.#queue = queue;
    this.#stores = stores;
    this.#live = new LiveJobs(new JobLife(stores));
  }

  /** Queues a stored job (or follows it, when it is already queued or running); the result rejects with QueueFullError when refused. */
  submit(job: JobRecord, hooks: RunHooks = {}): JobHandle<JobOutcome> {
    const followed = this.#queue.follow({ id: job.id, userId: job.ownerId, guildId: job.guildId }, hooks);
    const started = Date.now();
    const result = followed.result.then(
      () => this.#outcome(job.id, Date.now() - started),
      async (err: unknown) => {
        // Refused at admission: photos stored only for this job do not stay behind (others' references keep theirs).
        if (err instanceof QueueFullError || err instanceof QueueClosedError) await this.#stores.photos.release(job.photoHashes ?? [], `job:${job.id}`).catch(() => {});
        // The worker reports how its run ended; a job refused, cancelled while waiting or given up by BullMQ is reported by LiveJobs.
        throw err;
      },
    );
    result.catch(() => {});
    const handle: JobHandle<JobOutcome> = {
      id: job.id,
      result,
      get state() {
        return followed.state;
      },
      cancel: (message?: string) => followed.cancel(message),
    };
    this.#live.track(handle);
    return handle;
  }

  stateOf(jobId: string): JobState | undefined {
    return this.#live.stateOf(jobId);
  }

  averageJobMs(): number {
    return this.#queue.averageJobMs();
  }

  async #outcome(jobId: string, totalMs: number): Promise<JobOutcome> {
    const [job, kept, group] = await withStoreRetries(() =>
      Promise.all([this.#stores.jobs.get(jobId), this.#stores.jobs.keptResult(jobId), this.#stores.candidates.get(jobId)]),
    );
    if (!job || !kept) throw new ResultTakenError();
    return outcomeFromKept(job, kept, group ?? undefined, totalMs);
  }
}

/** Pauses between reads of a finished job's images while the store (Redis) is away: it is finished, only its reading waits. */
const STORE_RETRY_DELAYS_MS = [250, 1_000, 2_000, 4_000, 8_000];

async function withStoreRetries<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const delay = STORE_RETRY_DELAYS_MS[attempt];
      if (!isStoreOutage(err) || delay === undefined) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
