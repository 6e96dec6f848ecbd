import type { FeedbackChange } from '../store/feedback-store.ts';
import type { JobRecord } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';
import type { BotServices } from './services.ts';

/** Whether a job's feedback is collected: its server allowed it when the group was drawn and still does. */
export async function collectsFeedback(services: BotServices, job: JobRecord): Promise<boolean> {
  const [settings, group] = await Promise.all([getServerSettings(services.stores, job.guildId), services.stores.candidates.get(job.id)]);
  return settings.feedback && (group?.feedback ?? true);
}

/**
 * Records one user's signal on a job's candidate where the server collects feedback. Returns whether
 * it was recorded; a store failure is logged (job id only) and costs the user nothing.
 */
export async function recordSignal(services: BotServices, job: JobRecord, userId: string, change: FeedbackChange): Promise<boolean> {
  try {
    if (!(await collectsFeedback(services, job))) return false;
    await services.stores.feedback.record(job.id, userId, change);
    return true;
  } catch (err) {
    services.logger.warn({ err, job: job.id, signal: change.kind }, 'could not record feedback');
    return false;
  }
}

/** A regeneration or refinement of a group: a signal on the candidate its result showed then. */
export async function recordFollowUpSignal(services: BotServices, parent: JobRecord, kind: 'regenerated' | 'refined'): Promise<void> {
  const group = await services.stores.candidates.get(parent.id).catch(() => undefined);
  if (!group) return;
  await recordSignal(services, parent, parent.ownerId, { kind, drawn: group.shown });
}
