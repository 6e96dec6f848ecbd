import type { Client } from 'discord.js';
import { JobLife } from '../../jobs/job-life.ts';
import { outcomeFromKept } from '../../jobs/kept-outcome.ts';
import { isStoreOutage } from '../../store/store-outage.ts';
import { deliverResult } from './deliver-result.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import type { DeliveryResult } from './delivery-result.ts';
import { storedTarget } from './stored-target.ts';

/** After a result was kept: when this process tries to post it again (it also tries at every start). */
export const REDELIVERY_DELAYS_MS: readonly number[] = [60_000, 10 * 60_000, 60 * 60_000];
/**
 * After another attempt held the claim on a result (a dead holder's claim lapses with its liveness), or
 * after a post whose record the store did not take: when this process looks again.
 */
export const CLAIM_RETRY_DELAYS_MS: readonly number[] = [5_000, 10_000, 20_000, 40_000, 80_000];

/** Jobs being posted again by this process, so a timer and a start-up pass never post one twice. */
const posting = new Set<string>();

/** After an attempt that did not post `jobId`'s result: the next one, later, while there is one to make. */
export function redeliverLater(deps: DeliveryDeps, client: Client, jobId: string, result: DeliveryResult, attempt = 0): void {
  if (result !== 'kept' && result !== 'busy' && result !== 'unrecorded') return;
  const soon = result !== 'kept';
  const delays = soon ? CLAIM_RETRY_DELAYS_MS : (deps.redeliveryDelaysMs ?? REDELIVERY_DELAYS_MS);
  const delay = delays[attempt];
  if (delay === undefined) return;
  setTimeout(() => {
    if (!client.isReady()) return;
    void redeliver(deps, client, jobId, attempt + 1, soon ? { busy: attempt + 1 } : {});
  }, delay).unref();
}

/**
 * Posts a kept result (a job drawn and not posted) where it belongs, after checking that no earlier
 * attempt posted it already; kept again if Discord still refuses, looked at again later while another
 * attempt holds it.
 */
export async function redeliver(deps: DeliveryDeps, client: Client, jobId: string, attempt = 0, { busy }: { busy?: number } = {}): Promise<DeliveryResult> {
  if (posting.has(jobId)) return 'busy';
  posting.add(jobId);
  let result: DeliveryResult = 'gone';
  try {
    const { jobs } = deps.stores;
    const [job, kept, group] = await Promise.all([jobs.get(jobId), jobs.keptResult(jobId), deps.stores.candidates.get(jobId)]);
    if (!kept) return (result = 'gone');
    if (!job) {
      await new JobLife(deps.stores).dropLeftover(jobId);
      return (result = 'gone');
    }
    // Posted and recorded; only the kept copy's drop was lost.
    if (job.status === 'done' && job.messageId) {
      await new JobLife(deps.stores).dropLeftover(jobId);
      return (result = 'posted');
    }
    const thread = kept.threadId ? await client.channels.fetch(kept.threadId).catch(() => null) : null;
    const target = await storedTarget(client, job, thread?.isThread() ? thread : undefined);
    if (!target) {
      deps.logger.warn({ job: jobId }, 'kept result: its channel is out of reach; keeping it');
      return (result = 'gone');
    }
    const outcome = outcomeFromKept(job, kept, group ?? undefined);
    result = await deliverResult(deps, outcome, { ...target, trace: kept.trace, sizeLimit: kept.sizeLimit }, { attempt, checkPosted: true });
    return result;
  } catch (err) {
    // The store away (Redis restarting): looked at again soon, like a result another attempt holds.
    if (isStoreOutage(err)) return (result = 'busy');
    deps.logger.error({ err, job: jobId }, 'posting a kept result failed');
    return (result = 'gone');
  } finally {
    posting.delete(jobId);
    if (busy !== undefined) redeliverLater(deps, client, jobId, result, busy);
    else if (Number.isFinite(attempt)) redeliverLater(deps, client, jobId, result, result === 'kept' ? attempt : 0);
  }
}
