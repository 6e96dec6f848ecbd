/**
 * Every code a UserFacingError (or subclass) can carry. A code is how other layers tell errors apart
 * (`err.code === 'subject_not_owner'`), so it is a closed union: a code that is not listed here, in a
 * constructor or a comparison, does not compile. Add the code here, under the class that throws it.
 *
 * Not listed: codes of errors that are not ours (Node's and the system's 'ENOSPC', 'ERR_...', SQLite's,
 * Discord's API codes); those stay plain strings or numbers where they are read.
 */

/** A problem with an image a user supplied (ImageInputError). */
export type ImageErrorCode = 'empty' | 'too_large' | 'unsupported_format' | 'pixel_limit' | 'corrupt' | 'too_many';

/** Bad input from a user (InputError and its subclasses): theirs to fix. */
export type InputErrorCode =
  | ImageErrorCode
  // Command lines of the CLI and scripts.
  | 'usage'
  // Prompts and request options.
  | 'blank_text'
  | 'reserved_token'
  | 'prompt_too_long'
  | 'no_images'
  | 'uncond_unsupported'
  | 'invalid_option'
  | 'scorer_missing'
  | 'upscaler_missing'
  | 'upscale_off'
  | 'image_too_small'
  // Attachments downloaded from Discord.
  | 'bad_url'
  | 'bad_host'
  | 'download_failed'
  | 'download_incomplete'
  | 'download_timeout'
  // A server's rules and settings.
  | 'channel_not_allowed'
  | 'consent_needed'
  | 'blocked_phrase'
  | 'count_cap'
  | 'candidates_cap'
  | 'count_and_candidates'
  | 'guidance_cap'
  | 'trace_private'
  | 'setting_invalid'
  | 'setting_missing'
  | 'setting_present'
  | 'setting_absent'
  | 'setting_full'
  // Subjects.
  | 'subject_name'
  | 'subject_name_taken'
  | 'subject_name_lookalike'
  | 'subject_shared_name_taken'
  | 'subject_context'
  | 'subject_photos'
  | 'subject_limit'
  | 'subject_not_found'
  | 'subject_not_owner'
  | 'subject_not_shared'
  | 'subject_ambiguous'
  | 'subject_share_dm'
  | 'subject_gone'
  | 'sharing_off'
  // Earlier jobs, their photos and candidates (buttons, refinements, follow-ups).
  | 'job_gone'
  | 'job_deleted'
  | 'photo_gone'
  | 'candidates_gone'
  | 'no_candidate'
  | 'nothing_to_refine'
  | 'not_owner'
  | 'stale'
  | 'wrong_server'
  | 'not_on_message'
  // Admission: the queue (QueueFullError), quotas (QuotaExceededError), jobs per user.
  | 'queue_full'
  | 'quota'
  | 'jobs_per_user';

/** A model bundle that is missing, incomplete or does not match the contract (BundleError). */
export type BundleErrorCode =
  | 'bundle_missing'
  | 'file_missing'
  | 'file_invalid'
  | 'graph_missing'
  | 'graph_invalid'
  | 'graph_mismatch'
  | 'template_missing'
  | 'template_invalid'
  | 'tokenizer_invalid'
  // An upscaler folder (UPSCALER_DIR, --upscale) that is incomplete or not a Swin2SR export.
  | 'upscaler_invalid';

/** The bot's own state rather than the user's input: cancelled, engine trouble, shutdown, storage down. */
export type ServiceErrorCode =
  | 'cancelled'
  | 'timeout'
  | 'shutting_down'
  | 'engine_crashed'
  | 'engine_stuck'
  | 'engine_closed'
  | 'store_unavailable'
  // An upscale tile that ONNX Runtime could not allocate memory for.
  | 'out_of_memory'
  // A job run by another process (JOB_QUEUE=redis) whose images that process posts (ResultTakenError).
  | 'result_taken';

export type ErrorCode = InputErrorCode | BundleErrorCode | ServiceErrorCode;

/**
 * Errors whose message is meant for the person who caused them: one short line, no stack.
 * Anything else that escapes is a bug and is reported as such.
 *
 * A subclass that an engine worker can throw must be listed in WORKER_ERROR_CLASSES (src/runtime/wire-error.ts)
 * so that it crosses the thread boundary as itself; test/wire-errors.test.ts fails for one that is not.
 */
export class UserFacingError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input from a user: prompt, option, image. */
export class InputError extends UserFacingError {
  declare readonly code: InputErrorCode;

  constructor(code: InputErrorCode, message: string) {
    super(code, message);
  }
}

/** A model bundle that is missing, incomplete or does not match the contract. */
export class BundleError extends UserFacingError {
  declare readonly code: BundleErrorCode;

  constructor(code: BundleErrorCode, message: string) {
    super(code, message);
  }
}

/** The job was cancelled by its owner or by shutdown. */
export class CancelledError extends UserFacingError {
  declare readonly code: 'cancelled';

  constructor(message = 'Cancelled.') {
    super('cancelled', message);
  }
}

export type QueueLimit = 'user' | 'guild' | 'queue';

/** The queue refused a job; `message` says which limit, politely. */
export class QueueFullError extends InputError {
  declare readonly code: 'queue_full';

  constructor(
    readonly limit: QueueLimit,
    message: string,
  ) {
    super('queue_full', message);
  }
}

/** The queue is closing (a restart): it takes no new job. */
export class QueueClosedError extends UserFacingError {
  declare readonly code: 'shutting_down';

  constructor(message = 'The bot is restarting and not taking new images; try again in a minute.') {
    super('shutting_down', message);
  }
}

/** A running job went past `maxRunMs` and was stopped. */
export class JobTimeoutError extends UserFacingError {
  declare readonly code: 'timeout';

  constructor(ms: number) {
    super('timeout', `That took longer than ${formatDuration(ms)} and was stopped.`);
  }
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return plural(Math.round(ms / 1000), 'second');
  return plural(Math.round(ms / 60_000), 'minute');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
