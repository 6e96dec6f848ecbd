import type { JobOutcome } from '../jobs/job-outcome.ts';
import type { JobRecord } from '../store/index.ts';
import type { BotDeps } from './bot-deps.ts';
import { runJob, type RunOptions } from './run-job.ts';
import type { StatusMessage } from './status/status-message.ts';

/**
 * A job's images against the quota (src/jobs/quota.ts), over the job's life: taken when the job is
 * admitted, before its photos are downloaded; given back if making the job fails or if it never starts
 * (refused by the queue, cancelled or dropped while waiting); kept once the model started on it, since
 * that work was done whatever happens next. A process that stops while jobs wait keeps their images used.
 */
export async function withQuota<T>(
  deps: BotDeps,
  jobId: string,
  ownerId: string,
  guildId: string | null,
  images: number,
  make: () => Promise<T>,
): Promise<T> {
  await deps.quota.take(jobId, ownerId, guildId, images);
  try {
    return await make();
  } catch (err) {
    await deps.quota.refund(jobId).catch((e) => deps.logger.warn({ err: e, job: jobId }, 'quota refund failed'));
    throw err;
  }
}

/** runJob (it queues the job before its first await, as runJob does), then settles the job's quota. */
export async function runJobWithQuota(
  deps: BotDeps,
  job: JobRecord,
  status: StatusMessage,
  deliver: (outcome: JobOutcome) => Promise<void>,
  options: RunOptions = {},
): Promise<void> {
  try {
    await runJob(deps, job, status, deliver, options);
  } finally {
    const record = await deps.stores.jobs.get(job.id).catch(() => undefined);
    if (record?.startedAt !== undefined || record?.status === 'drawn' || record?.status === 'done') deps.quota.settle(job.id);
    else await deps.quota.refund(job.id).catch((err) => deps.logger.warn({ err, job: job.id }, 'quota refund failed'));
  }
}
