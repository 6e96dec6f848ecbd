import type { ThreadChannel } from 'discord.js';
import type { JobLife } from '../../jobs/job-life.ts';
import type { JobOutcome } from '../../jobs/job-outcome.ts';
import { keptFromOutcome } from '../../jobs/kept-outcome.ts';
import { INTERNAL_ERROR_MESSAGE } from '../reply-errors.ts';
import { settleStatus } from '../status/settle-status.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { FORGOTTEN_NOTE, type DeliveryResult } from './delivery-result.ts';
import type { DeliverTarget } from './delivery-target.ts';
import { postAgainRow } from './post-again-row.ts';
import { noteInThread } from './result-thread.ts';

export const KEPT_NOTE = 'Discord kept refusing this image. It is kept safe and will be posted here.';
export const KEPT_MESSAGE =
  'Your image is finished, but Discord kept refusing it. It is kept safe, and the bot posts it here by itself as soon as Discord takes it (or press Post again).';

/**
 * Nothing took the image: it stays in the store (with its empty thread `made`) until redelivery.ts
 * posts it, and the user is told once (`attempt` 0; a timer's later attempts that fail again say nothing new).
 */
export async function keepResult(deps: DeliveryDeps, life: JobLife, outcome: JobOutcome, target: DeliverTarget, made: ThreadChannel | undefined, attempt: number): Promise<DeliveryResult> {
  const jobId = outcome.job.id;
  const kept = keptFromOutcome(outcome, { trace: target.trace, sizeLimit: target.sizeLimit, ...(made ? { threadId: made.id } : {}) });
  try {
    await life.keptForLater(jobId, kept);
  } catch (err) {
    if (!(await deps.stores.jobs.exists(jobId).catch(() => true))) {
      await settleStatus(deps, target.status, { content: FORGOTTEN_NOTE, components: [] }, { job: jobId });
      return 'gone';
    }
    deps.logger.error({ err, job: jobId }, 'finished image lost: neither Discord nor the store took it');
    await settleStatus(deps, target.status, { content: INTERNAL_ERROR_MESSAGE, components: [] }, { job: jobId });
    return 'gone';
  }
  deps.logger.warn({ job: jobId, attempt }, 'result kept for posting later');
  if (attempt === 0) {
    await settleStatus(deps, target.status, { content: KEPT_MESSAGE, components: [postAgainRow(jobId)] }, { job: jobId });
    if (made) await noteInThread(deps, made, KEPT_NOTE, { job: jobId });
  }
  return 'kept';
}
