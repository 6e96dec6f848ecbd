import type { JobHandle, JobState } from './job-runner.ts';
import type { JobLife } from './job-life.ts';

/** How many ended jobs stateOf() remembers. */
const ENDED_REMEMBERED = 10_000;

/**
 * A runner's jobs in this process: the live ones and how recent ones ended (bounded, oldest first). A
 * job that ends without images is reported to the job's life (failed, or cancelled when its handle says so).
 */
export class LiveJobs<T> {
  readonly #life: JobLife;
  readonly #live = new Map<string, JobHandle<T>>();
  readonly #ended = new Map<string, JobState>();

  constructor(life: JobLife) {
    this.#life = life;
  }

  track(handle: JobHandle<T>): JobHandle<T> {
    const id = handle.id;
    this.#live.set(id, handle);
    const remember = () => {
      this.#live.delete(id);
      this.#ended.delete(id);
      this.#ended.set(id, handle.state);
      if (this.#ended.size > ENDED_REMEMBERED) this.#ended.delete(this.#ended.keys().next().value!);
    };
    handle.result.then(remember, async (err: unknown) => {
      remember();
      await this.#life.settled(id, handle.state === 'cancelled' ? 'cancelled' : 'failed', err).catch(() => {});
    });
    return handle;
  }

  /** Its queue state, settled at once when it is cancelled; undefined for a job this process never ran or forgot. */
  stateOf(jobId: string): JobState | undefined {
    return this.#live.get(jobId)?.state ?? this.#ended.get(jobId);
  }
}
