import type { FeedbackChange } from '../store/feedback-store.ts';
import type { JobRecord } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';
import type { BotDeps } from './bot-deps.ts';

/** Whether a job's feedback is collected: its server allowed it when the group was drawn and still does. */
export async function collectsFeedback(deps: BotDeps, job: JobRecord): Promise<boolean> {
  const [settings, group] = await Promise.all([getServerSettings(deps.stores, job.guildId), deps.stores.candidates.get(job.id)]);
  return settings.feedback && (group?.feedback ?? true);
}

/**
 * Records one user's signal on a job's candidate where the server collects feedback. Returns whether
 * it was recorded; a store failure is logged (job id only) and costs the user nothing.
 */
export async function recordSignal(deps: BotDeps, job: JobRecord, userId: string, change: FeedbackChange): Promise<boolean> {
  try {
    if (!(await collectsFeedback(deps, job))) return false;
    await deps.stores.feedback.record(job.id, userId, change);
    return true;
  } catch (err) {
    deps.logger.warn({ err, job: job.id, signal: change.kind }, 'could not record feedback');
    return false;
  }
}

/** A regeneration or refinement of a group: a signal on the candidate its result showed then. */
export async function recordFollowUpSignal(deps: BotDeps, parent: JobRecord, kind: 'regenerated' | 'refined'): Promise<void> {
  const group = await deps.stores.candidates.get(parent.id).catch(() => undefined);
  if (!group) return;
  await recordSignal(deps, parent, parent.ownerId, { kind, drawn: group.shown });
}
