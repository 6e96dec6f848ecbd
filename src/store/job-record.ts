import type { GenerateOptionsInput } from '../request-options.ts';

/** A job's stored record: what was asked, where it is shown, and where in its life it is (JobStore keeps them). */

/**
 * A job's life (src/jobs/job-life.ts moves a record through it): queued -> running -> drawn (its images
 * kept in the store, not yet posted) -> done (posted); or failed / cancelled.
 */
export type JobStatus = 'queued' | 'running' | 'drawn' | 'done' | 'failed' | 'cancelled';
export const FINISHED_STATUSES: readonly JobStatus[] = ['done', 'failed', 'cancelled'];

/** Generation options as given (defaults are applied by the pipeline); JSON-serializable. */
export type JobOptions = Omit<GenerateOptionsInput, 'prompt' | 'seed'>;

export interface JobRecord {
  id: string;
  ownerId: string;
  guildId: string | null;
  channelId: string;
  threadId?: string;
  /** The message carrying the result (or the "queued" notice), for edits and buttons. */
  messageId?: string;
  prompt: string;
  seed: number;
  options: JobOptions;
  /** A saved subject (not kept alive by the job) ... */
  subjectId?: string;
  /** ... or photos uploaded for this job (kept alive by it). */
  photoHashes?: string[];
  /** A group of this many candidates drawn, ranked and shown best first (instead of `options.count`). */
  candidates?: number;
  /** Name and context used (copied, so that info/reroll do not depend on later edits). */
  name?: string;
  context?: string;
  /** Stage-1 grounding text, once known. */
  grounding?: string;
  /** The job this one rerolls or varies (or upscales). */
  parentId?: string;
  /**
   * An upscale of image `index` of the parent's result (the Upscale button), not a drawing: the image,
   * as posted, is the job's one photo (`photoHashes[0]`); `scale` is the model's, `maxScale` the
   * server's cap at the click (the output is resized down to it; unset: no cap).
   */
  upscale?: { index: number; scale: number; maxScale?: number };
  /** The channel's upload limit in bytes as Discord last told us (interactions carry it; messages do not). */
  uploadLimit?: number;
  status: JobStatus;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** One line for the user when status is 'failed'. */
  error?: string;
  /** Where the job's status message is, so a restarted bot can tell the user (see StatusLocation). */
  statusMessage?: StatusLocation;
  /** How many times a restarted bot put this job back in the queue. */
  resumes?: number;
  /** How many times the process running this job died while it was running (the loop guard: src/jobs/job-life.ts). */
  crashes?: number;
  /** When the result was deleted (the Delete button), and by whom: its owner or a moderator. */
  deletedAt?: number;
  deletedBy?: 'owner' | 'moderator';
}

/**
 * A status message: the bot's own ('bot', editable with the bot token at any time) or an interaction
 * reply ('interaction', editable only with the interaction's 15-minute token, which is never stored:
 * a later process answers it with a reply of its own).
 */
export interface StatusLocation {
  channelId: string;
  messageId: string;
  kind: 'bot' | 'interaction';
}

export type NewJob = Omit<JobRecord, 'id' | 'status' | 'createdAt' | 'startedAt' | 'finishedAt' | 'error'> & {
  id?: string;
  status?: JobStatus;
};

export type JobPatch = Partial<
  Pick<JobRecord, 'status' | 'messageId' | 'threadId' | 'grounding' | 'startedAt' | 'finishedAt' | 'error' | 'statusMessage' | 'resumes' | 'crashes'>
>;
