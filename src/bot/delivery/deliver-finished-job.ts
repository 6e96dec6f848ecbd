import type { JobOutcome } from '../../jobs/job-outcome.ts';
import { deliverResult } from './deliver-result.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { targetClient, type DeliverTarget } from './delivery-target.ts';
import { redeliverLater } from './redelivery.ts';

/** A job that just finished: its result posted now (deliverResult), and later (redelivery.ts) while it is not. Never throws. */
export async function deliverFinishedJob(deps: DeliveryDeps, outcome: JobOutcome, target: DeliverTarget): Promise<void> {
  const result = await deliverResult(deps, outcome, target);
  const client = targetClient(target);
  if (client) redeliverLater(deps, client, outcome.job.id, result);
}
