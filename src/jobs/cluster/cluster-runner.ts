import { QueueClosedError, QueueFullError, UserFacingError } from '../../errors.ts';
import type { JobRecord, Stores } from '../../store/index.ts';
import { isStoreOutage } from '../../store/store-outage.ts';
import type { JobOutcome, RunHooks } from '../generation-service.ts';
import type { JobHandle, JobState } from '../job-queue.ts';
import { outcomeFromKept } from '../kept-outcome.ts';
import type { ClusterQueue } from './cluster-queue.ts';

/** How many ended jobs stateOf() remembers. */
const ENDED_REMEMBERED = 10_000;

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
export class ClusterRunner {
  readonly #queue: ClusterQueue;
  readonly #stores: Stores;
  readonly #live = new Map<string, JobHandle<JobOutcome>>();
  readonly #ended = new Map<string, JobState>();

  constructor(queue: ClusterQueue, stores: Stores) {
    this.#queue = queue;
    this.#stores = stores;
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
        // The worker writes how its run ended; a job refused, cancelled while waiting or given up by BullMQ is written here.
        const current = await this.#stores.jobs.get(job.id).catch(() => undefined);
        if (current && (current.status === 'queued' || current.status === 'running')) {
          const status = followed.state === 'cancelled' ? 'cancelled' : 'failed';
          await this.#stores.jobs.update(job.id, { status, error: err instanceof Error ? err.message.split('\n')[0] : String(err) }).catch(() => {});
        }
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
    this.#live.set(job.id, handle);
    const remember = () => {
      this.#live.delete(job.id);
      this.#ended.delete(job.id);
      this.#ended.set(job.id, followed.state);
      if (this.#ended.size > ENDED_REMEMBERED) this.#ended.delete(this.#ended.keys().next().value!);
    };
    result.then(remember, remember);
    return handle;
  }

  stateOf(jobId: string): JobState | undefined {
    return this.#live.get(jobId)?.state ?? this.#ended.get(jobId);
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
