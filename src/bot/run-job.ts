import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type Message, type MessageEditOptions } from 'discord.js';
import { CancelledError } from '../errors.ts';
import type { JobOutcome } from '../jobs/job-outcome.ts';
import { JobLife } from '../jobs/job-life.ts';
import type { JobRecord } from '../store/index.ts';
import type { BotDeps } from './bot-deps.ts';
import { customId } from './custom-ids.ts';
import { userMessage } from './reply-errors.ts';
import { drawingProgress } from './status/progress-text.ts';
import { settleStatus } from './status/settle-status.ts';
import { locationOf } from './status/status-location.ts';
import { editStatus, type StatusMessage } from './status/status-message.ts';

export interface RunOptions {
  /** A line above the queue position and progress (a resumed job: the bot restarted). */
  note?: string;
}

const STATUS_EDIT_INTERVAL_MS = 3000;
const NO_MENTIONS = { parse: [] as [] };

/**
 * Queues a stored job and keeps `status` current (position, ETA, progress, a Cancel button); when
 * the job ends, `deliver` posts the result, or the status says why not. Never throws.
 */
export async function runJob(
  deps: BotDeps,
  job: JobRecord,
  status: StatusMessage,
  deliver: (outcome: JobOutcome) => Promise<void>,
  options: RunOptions = {},
): Promise<void> {
  const { generation, queue, logger } = deps;
  let lastEdit = 0;
  let pending: NodeJS.Timeout | undefined;
  let progress = '';
  let finished = false;
  const cancelRow = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('cancel', job.id)).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
  );

  const render = (): string => (options.note ? `${options.note}\n${state()}` : state());
  const state = (): string => {
    const eta = queue.eta(job.id, generation.averageJobMs());
    if (!eta) return progress || 'Starting…';
    if (eta.position === 0) return progress || 'Working on it…';
    const waiting = queue.snapshot().waiting.length;
    const when = Math.round((Date.now() + eta.finishesInMs) / 1000);
    return `In the queue: position ${eta.position} of ${waiting}, ready about <t:${when}:R>.`;
  };
  // The record learns where the status is, so a process started after this one dies can tell the user.
  let located = job.statusMessage?.messageId;
  const locate = async (message: Message | null | undefined): Promise<void> => {
    if (!message || message.id === located) return;
    located = message.id;
    await deps.stores.jobs.update(job.id, { statusMessage: locationOf(message) }).catch((err) => logger.warn({ err, job: job.id }, 'could not record the status location'));
  };
  // Written before any edit shows the job (a process killed right after one still knows where the status
  // is), without an await before the job is queued: callers rely on runJob queuing it synchronously.
  const recorded = locate(status.message);
  const edit = async (payload: MessageEditOptions): Promise<void> => {
    await recorded;
    await locate(await editStatus(status, payload));
  };
  // Edits are coalesced and spaced, so a busy queue never floods Discord's rate limits.
  const refresh = (): void => {
    if (finished || pending) return;
    const wait = Math.max(0, lastEdit + STATUS_EDIT_INTERVAL_MS - Date.now());
    pending = setTimeout(() => {
      pending = undefined;
      if (finished) return;
      lastEdit = Date.now();
      edit({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, job: job.id }, 'status edit failed'));
    }, wait);
  };

  let handle;
  try {
    handle = generation.submit(job, {
      onStart: () => {
        progress = 'Reading your photos…';
        refresh();
      },
      onStep: (done, total) => {
        progress = drawingProgress(job, done, total);
        refresh();
      },
    });
  } catch (err) {
    // Refused at enqueue (the queue closed, a place that expired): undo the intake, so photos stored only
    // for this job do not stay behind. Photos another job or subject refers to keep their other referrers.
    await deps.stores.photos.release(job.photoHashes ?? [], `job:${job.id}`).catch(() => {});
    await new JobLife(deps.stores).settled(job.id, 'failed', err).catch(() => {});
    await status.edit({ content: userMessage(err, logger, { job: job.id }), components: [], allowedMentions: NO_MENTIONS }).catch(() => {});
    return;
  }
  const unsubscribe = queue.subscribe(refresh);
  lastEdit = Date.now();
  await edit({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, job: job.id }, 'status edit failed'));
  try {
    const outcome = await handle.result;
    finished = true;
    await deliver(outcome);
  } catch (err) {
    finished = true;
    // "Cancelled by you." says it already; other reasons follow the word ("Cancelled. The server ...").
    const text = err instanceof CancelledError ? (/^Cancelled\b/.test(err.message) ? err.message : `Cancelled. ${err.message}`.trim()) : userMessage(err, logger, { job: job.id });
    await settleStatus(deps, status, { content: text, components: [], allowedMentions: NO_MENTIONS }, { job: job.id });
  } finally {
    finished = true;
    clearTimeout(pending);
    unsubscribe();
  }
}
