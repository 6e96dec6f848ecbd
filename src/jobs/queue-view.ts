/**
 * What a front end (the bot) sees of the queue and does with it, in the words of this file. JobQueue
 * (jobs in this process) and ClusterQueue (jobs on model workers through Redis) both are one; admission
 * answers at once in-process and after a Redis round trip in a cluster, so callers await it.
 */
export interface QueueView {
  readonly accepting: boolean;
  /** Throws the refusal a job of this user and server would get now (`jobsPerUser`: the server's cap on one member's jobs there, 0: none); whether it would start at once. */
  assertAccepts(userId: string, guildId: string | null, jobsPerUser?: number): boolean | Promise<boolean>;
  /** Holds a place for job `id` (the same checks, decided under the queue's own lock) until the job is submitted with that id or the place released. */
  reserve(id: string, userId: string, guildId: string | null, jobsPerUser?: number): QueueReservation | Promise<QueueReservation>;
  cancel(id: string, message?: string): boolean;
  snapshot(): QueueSnapshot;
  /** Deletes what the queue itself keeps of `userId`'s finished jobs (forget-me); returns how many jobs. */
  forgetUser(userId: string): Promise<number>;
  eta(id: string, averageJobMs: number): JobEta | null;
  subscribe(listener: (snapshot: QueueSnapshot) => void): () => void;
  drain(options?: DrainOptions): Promise<DrainResult>;
}

/** A place held for a job that will be submitted with the same id (see reserve()). */
export interface QueueReservation {
  readonly id: string;
  /** Whether the job would have started at once when the place was taken. */
  readonly startsNow: boolean;
  /** Whether the place is still held (not yet submitted, released or expired). */
  readonly held: boolean;
  /** Gives the place back; false when it was no longer held (submitted, released or expired). */
  release(): boolean | Promise<boolean>;
}

export interface QueueSnapshot {
  concurrency: number;
  accepting: boolean;
  /** Started and not yet returned; `cancelling` once cancelled while the runner winds down. */
  running: { id: string; userId: string; guildId: string | null; startedAt: number; cancelling: boolean }[];
  /** In the order they are expected to start; position is 1-based. */
  waiting: { id: string; userId: string; guildId: string | null; position: number; enqueuedAt: number }[];
}

export interface JobEta {
  /** 0 when running. */
  position: number;
  startsInMs: number;
  finishesInMs: number;
}

export interface DrainOptions {
  /** How long running jobs may go on before they are aborted (default 30 s; 0 aborts at once). */
  waitMs?: number;
  /** After aborting, how long to wait for runners to return (default 5 s). */
  graceMs?: number;
  /** Message of the CancelledError given to waiting jobs. */
  message?: string;
}

export interface DrainResult {
  /** Waiting jobs that were cancelled. */
  cancelledWaiting: number;
  /** Running jobs that ended by themselves during the wait. */
  finished: number;
  /** Running jobs that were aborted after the wait. */
  aborted: number;
  /** Runners that had still not returned after the grace period (their results are settled anyway). */
  stuck: number;
}
