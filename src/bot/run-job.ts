import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type Message, type MessageEditOptions } from 'discord.js';
import { JobLife } from '../jobs/job-life.ts';
import type { JobRecord } from '../store/index.ts';
import type { BotDeps } from './bot-deps.ts';
import { customId } from './custom-ids.ts';
import { deliverFinishedJob } from './delivery/deliver-finished-job.ts';
import type { DeliverTarget } from './delivery/delivery-target.ts';
import { userMessage } from './reply-errors.ts';
import { drawingProgress, endedText, queueLine } from './status/job-status-text.ts';
import { settleStatus } from './status/settle-status.ts';
import { SpacedEdits } from './status/spaced-edits.ts';
import { locationOf } from './status/status-location.ts';
import { editStatus } from './status/status-message.ts';

export interface RunOptions {
  /** A line above the queue position and progress (a resumed job: the bot restarted). */
  note?: string;
}

const STATUS_EDIT_INTERVAL_MS = 3000;
const NO_MENTIONS = { parse: [] as [] };

/**
 * Queues a stored job and keeps its status (`target.status`) current (position, ETA, progress, a Cancel
 * button); when the job ends, its result is posted to `target` (deliverFinishedJob), or the status says
 * why not. Never throws.
 */
export async function runJob(deps: BotDeps, job: JobRecord, target: DeliverTarget, options: RunOptions = {}): Promise<void> {
  const { runner, queue, logger } = deps;
  const { status } = target;
  const context = { job: job.id };
  let progress = '';
  const cancelRow = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('cancel', job.id)).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
  );

  const render = (): string => (options.note ? `${options.note}\n${state()}` : state());
  const state = (): string => {
    const eta = queue.eta(job.id, runner.averageJobMs());
    if (!eta) return progress || 'Starting…';
    if (eta.position === 0) return progress || 'Working on it…';
    return queueLine(eta.position, queue.snapshot().waiting.length, eta.finishesInMs, Date.now());
  };
  // The record learns where the status is, so a process started after this one dies can tell the user.
  let located = job.statusMessage?.messageId;
  const locate = async (message: Message | null | undefined): Promise<void> => {
    if (!message || message.id === located) return;
    located = message.id;
    await deps.stores.jobs.update(job.id, { statusMessage: locationOf(message) }).catch((err) => logger.warn({ err, ...context }, 'could not record the status location'));
  };
  // Written before any edit shows the job (a process killed right after one still knows where the status
  // is), without an await before the job is queued: callers rely on runJob queuing it synchronously.
  const recorded = locate(status.message);
  const show = async (payload: MessageEditOptions): Promise<void> => {
    await recorded;
    await locate(await editStatus(status, payload));
  };
  const showState = (): void => {
    show({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, ...context }, 'status edit failed'));
  };
  const edits = new SpacedEdits(showState, STATUS_EDIT_INTERVAL_MS);

  let handle;
  try {
    handle = runner.submit(job, {
      onStart: () => {
        progress = 'Reading your photos…';
        edits.request();
      },
      onStep: (done, total) => {
        progress = drawingProgress(job, done, total);
        edits.request();
      },
    });
  } catch (err) {
    // Refused at enqueue (the queue closed, a place that expired): undo the intake, so photos stored only
    // for this job do not stay behind. Photos another job or subject refers to keep their other referrers.
    await deps.stores.photos.release(job.photoHashes ?? [], `job:${job.id}`).catch(() => {});
    await new JobLife(deps.stores).settled(job.id, 'failed', err).catch(() => {});
    await status.edit({ content: userMessage(err, logger, context), components: [], allowedMentions: NO_MENTIONS }).catch(() => {});
    return;
  }
  const unsubscribe = queue.subscribe(() => edits.request());
  edits.sentNow();
  await show({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, ...context }, 'status edit failed'));
  try {
    const outcome = await handle.result;
    edits.stop();
    await deliverFinishedJob(deps, outcome, target);
  } catch (err) {
    edits.stop();
    await settleStatus(deps, status, { content: endedText(err, logger, context), components: [], allowedMentions: NO_MENTIONS }, context);
  } finally {
    edits.stop();
    unsubscribe();
  }
}
