import { ShardClientUtil, type Client } from 'discord.js';
import type { JobRecord } from '../store/job-store.ts';
import { redeliver } from './redelivery.ts';
import type { BotDeps } from './bot-deps.ts';
import { startJob } from './start-job.ts';
import { settleStatus } from './status-edits.ts';
import { storedTarget } from './stored-status.ts';

export { RESUMED_NOTE } from './start-job.ts';
export const GAVE_UP =
  'The bot restarted twice while making this image, so it was stopped (it may be what stopped the bot). Send it again, perhaps with other words or photos.';
const CHANNEL_GONE = 'The bot restarted, and the channel of this image is out of its reach now.';

/**
 * At start, once the client is ready. A job still queued or running in the store belongs to a process
 * that died (a clean stop cancels its jobs): it is put back in the queue once, with its photos and
 * options from the record, and delivered as usual. A job that was already put back once is failed
 * instead (`resumes`), so a job that kills the process cannot loop. The user is told in the job's
 * status message: edited when it is the bot's own, answered by a reply when it is an interaction reply
 * (its token is never stored); the Cancel button works on both. Results that were finished but not
 * posted (kept results) are posted again.
 */
export async function recoverJobs(deps: BotDeps, client: Client, track: (work: Promise<unknown>) => void): Promise<void> {
  const { jobs } = deps.stores;
  const left = (await jobs.unfinished()).filter((job) => onThisShard(client, job.guildId));
  if (left.length) deps.logger.info({ jobs: left.length }, 'jobs left by a previous process');
  for (const job of left) track(resume(deps, client, job).catch((err) => deps.logger.error({ err, job: job.id }, 'could not resume a job')));
  for (const id of await jobs.keptResultIds()) {
    const job = await jobs.get(id);
    if (onThisShard(client, job?.guildId ?? null)) track(redeliver(deps, client, id));
  }
}

/**
 * With several shards (SHARDS), each one recovers only the jobs of the guilds Discord routes to it, by
 * Discord's formula, so that its client is the one that sees their buttons; jobs outside a guild go to shard 0.
 */
export function onThisShard(client: Client, guildId: string | null): boolean {
  if (!client.shard) return true;
  const shard = guildId ? ShardClientUtil.shardIdForGuildId(guildId, client.shard.count) : 0;
  return client.shard.ids.includes(shard);
}

async function resume(deps: BotDeps, client: Client, job: JobRecord): Promise<void> {
  const { jobs } = deps.stores;
  const context = { job: job.id };
  const target = await storedTarget(client, job);
  // Read again: a Cancel click may have come first.
  const current = await jobs.get(job.id);
  if (!current || (current.status !== 'queued' && current.status !== 'running')) return;
  if (!target) {
    await jobs.update(job.id, { status: 'failed', error: CHANNEL_GONE });
    return;
  }
  // On model workers (JOB_QUEUE=redis) the job went on without this process: it is followed again, not run again.
  const remote = deps.config.jobQueue === 'redis';
  if (!remote && (current.resumes ?? 0) >= 1) {
    await jobs.update(job.id, { status: 'failed', error: GAVE_UP });
    await settleStatus(deps, target.status, { content: GAVE_UP, components: [], allowedMentions: { parse: [] } }, context);
    return;
  }
  const resumed = remote ? current : await jobs.update(job.id, { status: 'queued', resumes: (current.resumes ?? 0) + 1 });
  deps.logger.info(context, 'job resumed after a restart');
  const { status, ...where } = target;
  await startJob(deps, resumed, status, { ...where, resumed: true });
}
