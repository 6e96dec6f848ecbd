import type { Logger } from 'pino';
import { CancelledError } from '../../errors.ts';
import type { JobRecord } from '../../store/index.ts';
import { userMessage } from '../reply-errors.ts';

/** Scoring has no hook of its own in GenerationService: a group's last drawing step is where it starts. */
export const SCORING_PROGRESS = 'Scoring candidates…';

/** The status line for a drawing step: the percentage drawn, then, for a group of candidates, scoring. */
export function drawingProgress(job: Pick<JobRecord, 'candidates' | 'upscale'>, done: number, total: number): string {
  if (job.upscale) return total > 1 ? `Upscaling… tile ${done} of ${total}` : 'Upscaling…';
  if (done >= total && (job.candidates ?? 1) > 1) return SCORING_PROGRESS;
  return `Drawing… ${Math.floor((100 * done) / total)}%`;
}

/** The status line of a waiting job: its place in line and when it should be ready (a Discord timestamp). */
export function queueLine(position: number, waiting: number, finishesInMs: number, now: number): string {
  const when = Math.round((now + finishesInMs) / 1000);
  return `In the queue: position ${position} of ${waiting}, ready about <t:${when}:R>.`;
}

/** The status's last words for a job that ended without a result: why, for the user. */
export function endedText(err: unknown, logger: Logger, context: Record<string, unknown>): string {
  if (!(err instanceof CancelledError)) return userMessage(err, logger, context);
  // "Cancelled by you." says it already; other reasons follow the word ("Cancelled. The server ...").
  return /^Cancelled\b/.test(err.message) ? err.message : `Cancelled. ${err.message}`.trim();
}
