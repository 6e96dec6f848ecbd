import type { JobRecord } from '../store/index.ts';
import type { JobOutcome, RunHooks } from './job-outcome.ts';
import type { DrainOptions, DrainResult, JobEta, JobHandle, JobState, QueueReservation, QueueSnapshot } from './job-queue.ts';

/**
 * What a front end (the bot) sees of the queue and does with it. JobQueue (jobs in this process) and
 * ClusterQueue (jobs on model workers through Redis) both are one; admission answers at once in-process
 * and after a Redis round trip in a cluster, so callers await it.
 */
export interface QueueView {
  readonly accepting: boolean;
  assertAccepts(userId: string, guildId: string | null): boolean | Promise<boolean>;
  reserve(id: string, userId: string, guildId: string | null): QueueReservation | Promise<QueueReservation>;
  cancel(id: string, message?: string): boolean;
  snapshot(): QueueSnapshot;
  eta(id: string, averageJobMs: number): JobEta | null;
  subscribe(listener: (snapshot: QueueSnapshot) => void): () => void;
  drain(options?: DrainOptions): Promise<DrainResult>;
}

/** Runs stored jobs to their outcome: GenerationService in-process, ClusterRunner on model workers. */
export interface JobRunner {
  /** What becomes of a job a dead process left: run again here, or followed on the model worker that still runs it. */
  readonly afterRestart: 'run-again' | 'follow';
  submit(job: JobRecord, hooks?: RunHooks): JobHandle<JobOutcome>;
  stateOf(jobId: string): JobState | undefined;
  averageJobMs(): number;
}
