import { ShardClientUtil, type Client } from 'discord.js';
import { JobLife } from '../jobs/job-life.ts';
import type { JobRecord } from '../store/job-record.ts';
import type { BotDeps } from './bot-deps.ts';
import { redeliver } from './delivery/redelivery.ts';
import { storedTarget } from './delivery/stored-target.ts';
import { startJob } from './start-job.ts';
import { settleStatus } from './status/settle-status.ts';

export { RESUMED_NOTE } from './start-job.ts';
export const GAVE_UP =
  'The bot stopped twice while making this image, so it was stopped (it may be what stopped the bot). Send it again, perhaps with other words or photos.';
const CHANNEL_GONE = 'The bot restarted, and the channel of this image is out of its reach now.';

/**
 * At start, once the client is ready. A job not finished in the store belongs to a process that died
 * (a clean stop cancels its jobs); JobLife.afterRestart decides what becomes of it: a drawn one (its
 * images kept) is posted, after a look for a post the dead process made (redelivery.ts); one the runner
 * runs here is put back in the queue (unless the process died twice while running it: the loop guard);
 * one on model workers is followed again. The user is told in the job's status message: edited when
 * it is the bot's own, answered by a reply when it is an interaction reply (its token is never
 * stored); the Cancel button works on both.
 */
export async function recoverJobs(deps: BotDeps, client: Client, track: (work: Promise<unknown>) => void): Promise<void> {
  const { jobs } = deps.stores;
  const left = (await jobs.unfinished()).filter((job) => onThisShard(client, job.guildId));
  if (left.length) deps.logger.info({ jobs: left.length }, 'jobs left by a previous process');
  const seen = new Set(left.map((j) => j.id));
  // Decided side by side, then started in the order the jobs were first queued (left is oldest first),
  // so jobs run again keep their places in line.
  const fail = (job: JobRecord) => (err: unknown) => deps.logger.error({ err, job: job.id }, 'could not resume a job');
  const next = await Promise.all(left.map((job) => recover(deps, client, job).catch((err) => fail(job)(err))));
  left.forEach((job, i) => {
    const finish = next[i];
    if (finish) track(finish().catch(fail(job)));
  });
  // Kept images whose record is settled otherwise (an older version kept results of 'done' records).
  for (const id of await jobs.keptResultIds()) {
    if (seen.has(id)) continue;
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

/** Decides what becomes of a job left by the dead process; returns the step that carries it out, if any. */
async function recover(deps: BotDeps, client: Client, job: JobRecord): Promise<(() => Promise<void>) | undefined> {
  const life = new JobLife(deps.stores);
  const context = { job: job.id };
  const target = await storedTarget(client, job);
  if (!target) {
    await life.unreachable(job.id, CHANNEL_GONE);
    return undefined;
  }
  // Read again inside: a Cancel click may have come first.
  const decision = await life.afterRestart(job.id, deps.runner.afterRestart, GAVE_UP);
  if (decision.kind === 'ended') return undefined;
  if (decision.kind === 'deliver') return () => redeliver(deps, client, job.id).then(() => {});
  if (decision.kind === 'gave-up') {
    return () => settleStatus(deps, target.status, { content: GAVE_UP, components: [], allowedMentions: { parse: [] } }, context).then(() => {});
  }
  const { status, ...where } = target;
  return () => {
    deps.logger.info(context, decision.kind === 'follow' ? 'job followed again after a restart' : 'job resumed after a restart');
    return startJob(deps, decision.record, status, { ...where, resumed: true });
  };
}
