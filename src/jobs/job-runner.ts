import type { JobRecord } from '../store/index.ts';
import type { JobOutcome, RunHooks } from './job-outcome.ts';

/** Where a submitted job is: waiting, running, or how it ended. */
export type JobState = 'waiting' | 'running' | 'done' | 'failed' | 'cancelled';

/** A submitted job, as its submitter holds it. */
export interface JobHandle<T> {
  readonly id: string;
  /** Resolves with the runner's value; rejects with its error, CancelledError, or JobTimeoutError. */
  readonly result: Promise<T>;
  readonly state: JobState;
  /** Cancels if still waiting or running; false when it had already ended. */
  cancel(message?: string): boolean;
}

/** Runs stored jobs to their outcome: GenerationService in-process, ClusterRunner on model workers. */
export interface JobRunner {
  /** What becomes of a job a dead process left: run again here, or followed on the model worker that still runs it. */
  readonly afterRestart: 'run-again' | 'follow';
  submit(job: JobRecord, hooks?: RunHooks): JobHandle<JobOutcome>;
  stateOf(jobId: string): JobState | undefined;
  averageJobMs(): number;
}
