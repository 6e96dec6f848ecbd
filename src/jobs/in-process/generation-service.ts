import { basename } from 'node:path';
import type { ImageEngine } from '../image-engine.ts';
import type { ScorerKind } from '../../scoring/group-scorer.ts';
import type { JobOutcome, RunHooks } from '../job-outcome.ts';
import { runStoredJob } from '../stored-job-run.ts';
import type { JobQueue } from './job-queue.ts';
import type { JobHandle, JobRunner, JobState } from '../job-runner.ts';
import type { JobRecord, Stores } from '../../store/index.ts';
import { JobLife } from '../job-life.ts';
import { LiveJobs } from '../live-jobs.ts';

/**
 * Runs stored jobs through the queue and the pipeline: photos from the store, stage 1 from the
 * grounding cache when the same user, model, photos and context were grounded before, stage 2 always.
 * Knows nothing of Discord; the bot, tests and any other front end use it the same way.
 */
export class GenerationService implements JobRunner {
  readonly modelId: string;
  /** A job a dead process left is run again from the start, here (restart-recovery). */
  readonly afterRestart = 'run-again' as const;
  private readonly durations: number[] = [];
  private readonly live: LiveJobs<JobOutcome>;

  constructor(
    /** The model: a Personalizer in-process, or a WorkerEngine (the bot). */
    private readonly engine: ImageEngine,
    private readonly stores: Stores,
    private readonly queue: JobQueue,
    private readonly options: { scorer: ScorerKind },
  ) {
    this.modelId = basename(engine.bundle.dir);
    this.live = new LiveJobs(new JobLife(stores));
  }

  /** Queues a stored job; throws QueueFullError / QueueClosedError when refused. */
  submit(job: JobRecord, hooks: RunHooks = {}): JobHandle<JobOutcome> {
    const handle = this.queue.submit({
      id: job.id,
      userId: job.ownerId,
      guildId: job.guildId,
      run: (signal) => this.run(job, signal, hooks),
    });
    this.live.track(handle);
    return handle;
  }

  /**
   * What this process knows of a job: its queue state, settled at once when it is cancelled (the job
   * record is updated a moment later). Undefined for a job this process never queued, such as one a
   * previous process left, or one that ended long ago (then the record says how it ended).
   */
  stateOf(jobId: string): JobState | undefined {
    return this.live.stateOf(jobId);
  }

  /** Average duration of recent jobs, for queue ETAs (a first guess before any job ran). */
  averageJobMs(): number {
    if (this.durations.length === 0) return 60_000;
    return this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
  }

  private async run(job: JobRecord, signal: AbortSignal, hooks: RunHooks): Promise<JobOutcome> {
    const outcome = await runStoredJob({ engine: this.engine, stores: this.stores, modelId: this.modelId, scorer: this.options.scorer, drawnWaitsForStore: false }, job, signal, hooks);
    this.durations.push(outcome.totalMs);
    if (this.durations.length > 20) this.durations.shift();
    return outcome;
  }
}
