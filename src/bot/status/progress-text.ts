import type { JobRecord } from '../../store/index.ts';

/** Scoring has no hook of its own in GenerationService: a group's last drawing step is where it starts. */
export const SCORING_PROGRESS = 'Scoring candidates…';

/** The status line for a drawing step: the percentage drawn, then, for a group of candidates, scoring. */
export function drawingProgress(job: Pick<JobRecord, 'candidates' | 'upscale'>, done: number, total: number): string {
  if (job.upscale) return total > 1 ? `Upscaling… tile ${done} of ${total}` : 'Upscaling…';
  if (done >= total && (job.candidates ?? 1) > 1) return SCORING_PROGRESS;
  return `Drawing… ${Math.floor((100 * done) / total)}%`;
}
