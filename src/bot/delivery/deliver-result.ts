import type { Message, MessageEditOptions, SendableChannels } from 'discord.js';
import { JobLife } from '../../jobs/job-life.ts';
import type { JobOutcome } from '../../jobs/job-outcome.ts';
import { DISCORD_RETRY_DELAYS_MS, retrying } from '../retry.ts';
import { settleStatus } from '../status/settle-status.ts';
import { editStatus, statusAnchor } from '../status/status-message.ts';
import { trackDelivery } from './deliveries-in-progress.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { FORGOTTEN_NOTE, type DeliveryResult } from './delivery-result.ts';
import type { DeliverTarget } from './delivery-target.ts';
import { findPost } from './find-post.ts';
import { keepResult } from './keep-result.ts';
import { resultMessage } from './result-message.ts';
import { noteInThread, startResultThread } from './result-thread.ts';
import { upscaleFactor } from './upscale-factor.ts';

const NO_MENTIONS = { parse: [] as [], repliedUser: false };
/** A follow-up's status, when the new image follows it in the same channel: no link to what is right below. */
export const DONE_BELOW = 'Done. The new image is below.';
const THREAD_DONE = 'Done: your image is in the thread. Reply there with more photos or words to refine it.';

export interface DeliverOptions {
  /** The how-many-th later attempt this is (redelivery.ts): only the first tells the status that the image is kept. */
  attempt?: number;
  /**
   * Look for a post an earlier attempt made first (a process killed between posting and its record's
   * write): a result found posted is recorded and its status settled, never posted twice.
   */
  checkPosted?: boolean;
}

/**
 * Posts a finished job, keeping the image until it is posted: in its thread (a new one from the
 * reply, or the follow-up's), retried with back-off; else in the status message itself; else as a
 * reply to it; else the image stays kept in the store (it was kept when drawn: JobLife.drawn) for a later
 * attempt (redelivery.ts). Whatever is posted, the status is settled before the record says done, so
 * a process killed in between leaves a drawn record that the next start finishes. Never throws.
 */
export async function deliverResult(deps: DeliveryDeps, outcome: JobOutcome, target: DeliverTarget, options: DeliverOptions = {}): Promise<DeliveryResult> {
  const jobId = outcome.job.id;
  // One poster per result, across processes: a result is finished once but may be seen by a live
  // gateway and by another one's start-up pass over kept results.
  // The process that holds the claim settles the status too (the stored status location is the same message).
  if (!(await deps.claims.claim(jobId).catch(() => false))) {
    deps.logger.info({ job: jobId }, 'result is being posted by another attempt');
    return 'busy';
  }
  let result: DeliveryResult = 'gone';
  try {
    result = await trackDelivery(jobId, outcome.job.ownerId, (signal) => postResult(deps, outcome, target, options, signal));
  } catch (err) {
    deps.logger.error({ err, job: jobId }, 'posting a result failed');
  } finally {
    await (result === 'posted' ? deps.claims.posted(jobId) : deps.claims.release(jobId)).catch((err) => deps.logger.warn({ err, job: jobId }, 'could not record the posting claim'));
  }
  return result;
}

async function postResult(deps: DeliveryDeps, outcome: JobOutcome, target: DeliverTarget, options: DeliverOptions, signal: AbortSignal): Promise<DeliveryResult> {
  const { logger } = deps;
  const life = new JobLife(deps.stores);
  const jobId = outcome.job.id;
  const context = { job: jobId };
  const delays = deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS;
  const gone = async (): Promise<DeliveryResult> => {
    await settleStatus(deps, target.status, { content: FORGOTTEN_NOTE, components: [] }, context);
    return 'gone';
  };
  if (signal.aborted || !(await deps.stores.jobs.exists(jobId).catch(() => true))) return gone();

  if (options.checkPosted) {
    const started = target.startThreadFrom?.thread ?? undefined;
    const known = target.thread ?? started ?? (target.channel?.isThread() ? target.channel : undefined);
    const found = await findPost(jobId, target, known);
    if (found) {
      logger.info(context, 'result found posted by an earlier attempt');
      const inThread = found.channelId === known?.id;
      const where = inThread || found.channelId === target.channel?.id;
      const done = where ? (target.channel ? (target.doneNote ?? DONE_BELOW) : THREAD_DONE) : `Done: ${found.url}`;
      if (found.id !== statusAnchor(target.status)?.id) await settleStatus(deps, target.status, { content: done, components: [] }, context);
      return recordDelivered(deps, life, outcome, { messageId: found.id, threadId: inThread ? known?.id : undefined });
    }
  }
  // A thread made for this result holds nothing else: if the image cannot go there it must say where it went.
  const made = target.thread ?? (!target.channel && target.startThreadFrom ? ((await startResultThread(deps, target.startThreadFrom, outcome.job.prompt, context)) ?? undefined) : undefined);
  const thread = made ?? (target.channel?.isThread() ? target.channel : undefined);
  if (signal.aborted) return gone();
  const upscale = await upscaleFactor(deps, outcome.job.guildId).catch(() => undefined);
  const payload = await resultMessage(outcome, { sizeLimit: target.sizeLimit, trace: target.trace, upscale });
  const where = (thread ?? target.channel) as SendableChannels | undefined;
  if (where) {
    // Remembered before posting, so a reply to the new image refines that image, not the one before.
    if (thread && !(await deps.stores.threads.link(thread.id, jobId, outcome.job.ownerId).catch((err) => (logger.warn({ err, ...context }, 'could not remember the thread'), true)))) return gone();
    try {
      if (signal.aborted) return gone();
      const sent: Message = await retrying<Message>(() => where.send(payload), delays, { signal });
      const done = target.channel ? (target.doneNote ?? DONE_BELOW) : THREAD_DONE;
      await settleStatus(deps, target.status, { content: done, components: [] }, context);
      return recordDelivered(deps, life, outcome, { messageId: sent.id, threadId: thread?.id });
    } catch (err) {
      logger.warn({ err, ...context }, 'could not post the result; posting it in the status message');
    }
  }
  try {
    if (signal.aborted) return gone();
    const edited = await retrying(() => editStatus(target.status, { ...payload, content: payload.content, files: payload.files, components: payload.components } as MessageEditOptions), delays, { signal });
    if (edited) {
      if (made) await noteInThread(deps, made, 'The image is in the message this thread starts from.', context);
      return recordDelivered(deps, life, outcome, { messageId: edited.id });
    }
  } catch (err) {
    logger.warn({ err, ...context }, 'could not post the result in the status message; replying to it');
  }
  const anchor = statusAnchor(target.status);
  if (anchor) {
    try {
      if (signal.aborted) return gone();
      const sent = await retrying(() => anchor.reply({ ...payload, allowedMentions: NO_MENTIONS }), delays, { signal });
      await target.status.edit({ content: `Done: ${sent.url}`, components: [] }).catch(() => {});
      if (made) await noteInThread(deps, made, `The image is here: ${sent.url}`, context);
      return recordDelivered(deps, life, outcome, { messageId: sent.id });
    } catch (err) {
      logger.warn({ err, ...context }, 'could not reply with the result either');
    }
  }
  if (signal.aborted) return gone();
  return keepResult(deps, life, outcome, target, made, options.attempt ?? 0);
}

/** The record says done and where the image is (JobLife.posted: a failed `drawn` write is made good here). */
async function recordDelivered(deps: DeliveryDeps, life: JobLife, outcome: JobOutcome, where: { messageId: string; threadId?: string }): Promise<DeliveryResult> {
  try {
    await life.posted(outcome.job.id, { ...where, ...(outcome.grounding.text ? { grounding: outcome.grounding.text } : {}) });
    return 'posted';
  } catch (err) {
    deps.logger.warn({ err, job: outcome.job.id }, 'result posted, but the record was not updated; a later attempt records it');
    return 'unrecorded';
  }
}
