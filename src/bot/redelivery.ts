import type { Client } from 'discord.js';
import { outcomeFromKept } from '../jobs/kept-outcome.ts';
import { deliverResult } from './deliver.ts';
import type { BotDeps } from './bot-deps.ts';
import { storedTarget } from './stored-status.ts';

/** After a result was kept: when this process tries to post it again (it also tries at every start). */
export const REDELIVERY_DELAYS_MS: readonly number[] = [60_000, 10 * 60_000, 60 * 60_000];

/** Jobs being posted again by this process, so a timer and a start-up pass never post one twice. */
const posting = new Set<string>();

/** Posts again, later, a result Discord did not take; stops once it is posted or the client is gone. */
export function scheduleRedelivery(deps: BotDeps, client: Client, jobId: string, attempt = 0): void {
  const delay = (deps.redeliveryDelaysMs ?? REDELIVERY_DELAYS_MS)[attempt];
  if (delay === undefined) return;
  setTimeout(() => {
    if (!client.isReady()) return;
    void redeliver(deps, client, jobId, attempt + 1);
  }, delay).unref();
}

/** Posts a kept result (JobStore.keepResult) where it belongs; kept again if Discord still refuses. */
export async function redeliver(deps: BotDeps, client: Client, jobId: string, attempt = 0): Promise<void> {
  if (posting.has(jobId)) return;
  posting.add(jobId);
  try {
    const { jobs } = deps.stores;
    const [job, kept, group] = await Promise.all([jobs.get(jobId), jobs.keptResult(jobId), deps.stores.candidates.get(jobId)]);
    if (!kept) return;
    if (!job) return void (await jobs.dropKeptResult(jobId));
    const thread = kept.threadId ? await client.channels.fetch(kept.threadId).catch(() => null) : null;
    const target = await storedTarget(client, job, thread?.isThread() ? thread : undefined);
    if (!target) {
      deps.logger.warn({ job: jobId }, 'kept result: its channel is out of reach; keeping it');
      return;
    }
    const outcome = outcomeFromKept(job, kept, group ?? undefined);
    await deliverResult(deps, outcome, { ...target, trace: kept.trace, sizeLimit: kept.sizeLimit }, { attempt });
  } catch (err) {
    deps.logger.error({ err, job: jobId }, 'posting a kept result failed');
  } finally {
    posting.delete(jobId);
  }
}
