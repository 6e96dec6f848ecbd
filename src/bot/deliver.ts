import {
  ChannelType,
  type Client,
  type ChatInputCommandInteraction,
  type Message,
  type MessageComponentInteraction,
  type MessageCreateOptions,
  type MessageEditOptions,
  type ModalSubmitInteraction,
  type SendableChannels,
  type ThreadChannel,
} from 'discord.js';
import type { JobOutcome } from '../jobs/job-outcome.ts';
import { JobLife } from '../jobs/job-life.ts';
import { keptFromOutcome } from '../jobs/kept-outcome.ts';
import { trackDelivery } from './deliveries-in-progress.ts';
import { resultMessage, threadName } from './job-flow.ts';
import { postAgainRow } from './post-again-row.ts';
import { INTERNAL_ERROR_MESSAGE } from './reply-errors.ts';
import { DISCORD_RETRY_DELAYS_MS, retrying } from './retry.ts';
import type { BotDeps } from './bot-deps.ts';
import { editStatus, settleStatus, statusAnchor, type StatusMessage } from './status-edits.ts';
import { upscaleFactor } from './upscale-button.ts';

/** Interaction tokens last 15 minutes; after 14 the bot stops using them. */
const TOKEN_SAFE_MS = 14 * 60_000;

type RepliedInteraction = ChatInputCommandInteraction | MessageComponentInteraction | ModalSubmitInteraction;

/**
 * The interaction's (already deferred or sent) reply as a StatusMessage, edited through the
 * interaction token while it is valid. A bot cannot edit an interaction reply with its own token (it
 * is a webhook message), so once the token is about to expire the status goes on in a message of the
 * bot's own, a reply to the first one, created on the first late edit.
 */
export async function interactionStatus(interaction: RepliedInteraction, deps: BotDeps): Promise<StatusMessage & { message: Message }> {
  const message = await interaction.fetchReply();
  const started = interaction.createdTimestamp;
  let own: Promise<Message> | undefined;
  return {
    message,
    edit: async (payload: MessageEditOptions) => {
      if (deps.now() - started < TOKEN_SAFE_MS) return interaction.editReply(payload);
      if (own) return (await own).edit(payload);
      own = message.reply({ ...(payload as MessageCreateOptions), allowedMentions: { parse: [], repliedUser: false } });
      own.catch(() => (own = undefined));
      return own;
    },
  };
}

/** A message the bot sent itself, as a StatusMessage. */
export function messageStatus(message: Message): StatusMessage {
  return { message, edit: (payload) => message.edit(payload) };
}

export interface DeliverTarget {
  status: StatusMessage;
  trace: boolean;
  sizeLimit: number;
  /** Start a thread from this message for the result (a /personalize reply in a server channel). */
  startThreadFrom?: Message;
  /** Post the result in this channel (a thread the bot made, for follow-up jobs). */
  channel?: SendableChannels;
  /** The status's last words when the result is posted right after it in `channel` (default DONE_BELOW). */
  doneNote?: string;
  /** A thread made for this result earlier and left empty (a kept result posted again). */
  thread?: ThreadChannel;
}

const NO_MENTIONS = { parse: [] as [], repliedUser: false };
/** A follow-up's status, when the new image follows it in the same channel: no link to what is right below. */
export const DONE_BELOW = 'Done. The new image is below.';
export const KEPT_NOTE = 'Discord kept refusing this image. It is kept safe and will be posted here.';
export const KEPT_MESSAGE =
  'Your image is finished, but Discord kept refusing it. It is kept safe, and the bot posts it here by itself as soon as Discord takes it (or press Post again).';

/** How one attempt at posting a result ended. */
export type DeliveryResult =
  /** Posted (now, or found posted by an earlier attempt a dead process made). */
  | 'posted'
  /** Discord did not take it: it stays kept in the store, and the status says so. */
  | 'kept'
  /** Another attempt holds the claim on it (this process or another one). */
  | 'busy'
  /** Posted, but the store did not take the record's write (it stays drawn): a later attempt finds the post and records it. */
  | 'unrecorded'
  /** Not posted and never will be: its job is gone (forgotten or deleted), or neither Discord nor the store took it. */
  | 'gone';

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
export async function deliverResult(deps: BotDeps, outcome: JobOutcome, target: DeliverTarget, options: DeliverOptions = {}): Promise<DeliveryResult> {
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

/** Said where a job's owner was forgotten while its result was being posted. */
const FORGOTTEN = 'Cancelled: you asked the bot to forget your data.';

async function postResult(deps: BotDeps, outcome: JobOutcome, target: DeliverTarget, options: DeliverOptions, signal: AbortSignal): Promise<DeliveryResult> {
  const { logger } = deps;
  const life = new JobLife(deps.stores);
  const jobId = outcome.job.id;
  const context = { job: jobId };
  const delays = deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS;
  const gone = async (): Promise<DeliveryResult> => {
    await settleStatus(deps, target.status, { content: FORGOTTEN, components: [] }, context);
    return 'gone';
  };
  if (!(await deps.stores.jobs.exists(jobId).catch(() => true))) return gone();

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
  const made = target.thread ?? (!target.channel && target.startThreadFrom ? ((await startThread(deps, target.startThreadFrom, outcome)) ?? undefined) : undefined);
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
      const sent: Message = await retrying<Message>(() => where.send(payload), delays);
      const done = target.channel ? (target.doneNote ?? DONE_BELOW) : THREAD_DONE;
      await settleStatus(deps, target.status, { content: done, components: [] }, context);
      return recordDelivered(deps, life, outcome, { messageId: sent.id, threadId: thread?.id });
    } catch (err) {
      logger.warn({ err, ...context }, 'could not post the result; posting it in the status message');
    }
  }
  try {
    if (signal.aborted) return gone();
    const edited = await retrying(() => editStatus(target.status, { ...payload, content: payload.content, files: payload.files, components: payload.components } as MessageEditOptions), delays);
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
      const sent = await retrying(() => anchor.reply({ ...payload, allowedMentions: NO_MENTIONS }), delays);
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

const THREAD_DONE = 'Done: your image is in the thread. Reply there with more photos or words to refine it.';

/** The record says done and where the image is (JobLife.posted: a failed `drawn` write is made good here). */
async function recordDelivered(deps: BotDeps, life: JobLife, outcome: JobOutcome, where: { messageId: string; threadId?: string }): Promise<DeliveryResult> {
  try {
    await life.posted(outcome.job.id, { ...where, ...(outcome.grounding.text ? { grounding: outcome.grounding.text } : {}) });
    return 'posted';
  } catch (err) {
    deps.logger.warn({ err, job: outcome.job.id }, 'result posted, but the record was not updated; a later attempt records it');
    return 'unrecorded';
  }
}

/** Nothing took the image: it stays in the store (with its empty thread) until redelivery.ts posts it, and the user is told. */
async function keepResult(deps: BotDeps, life: JobLife, outcome: JobOutcome, target: DeliverTarget, made: ThreadChannel | undefined, attempt: number): Promise<DeliveryResult> {
  const jobId = outcome.job.id;
  const kept = keptFromOutcome(outcome, { trace: target.trace, sizeLimit: target.sizeLimit, ...(made ? { threadId: made.id } : {}) });
  try {
    await life.keptForLater(jobId, kept);
  } catch (err) {
    if (!(await deps.stores.jobs.exists(jobId).catch(() => true))) {
      await settleStatus(deps, target.status, { content: FORGOTTEN, components: [] }, { job: jobId });
      return 'gone';
    }
    deps.logger.error({ err, job: jobId }, 'finished image lost: neither Discord nor the store took it');
    await settleStatus(deps, target.status, { content: INTERNAL_ERROR_MESSAGE, components: [] }, { job: jobId });
    return 'gone';
  }
  deps.logger.warn({ job: jobId, attempt }, 'result kept for posting later');
  // Told once; a timer's later attempts that fail again say nothing new.
  if (attempt === 0) {
    await settleStatus(deps, target.status, { content: KEPT_MESSAGE, components: [postAgainRow(jobId)] }, { job: jobId });
    if (made) await noteInThread(deps, made, KEPT_NOTE, { job: jobId });
  }
  return 'kept';
}

/** The client a result's target talks through (for a later attempt's timer). */
export function targetClient(target: DeliverTarget): Client | undefined {
  return target.thread?.client ?? target.channel?.client ?? target.startThreadFrom?.client ?? statusAnchor(target.status)?.client;
}

/**
 * A message of the bot's carrying this job's image (file names carry the job id: resultMessage), in its
 * thread, its status message, or the status' channel; null when there is none (or nothing can be read).
 */
async function findPost(jobId: string, target: DeliverTarget, thread: ThreadChannel | SendableChannels | undefined): Promise<Message | null> {
  const prefix = `xcot-${jobId}-`;
  const carries = (m: Message): boolean => m.author.id === m.client.user.id && m.attachments.some((a) => a.name.startsWith(prefix));
  const anchor = statusAnchor(target.status);
  const fresh = anchor ? await anchor.fetch().catch(() => anchor) : undefined;
  if (fresh && carries(fresh)) return fresh;
  const places = [thread, target.channel, anchor?.channel].filter((c, i, all): c is SendableChannels => !!c && all.indexOf(c) === i && 'messages' in c);
  for (const place of places) {
    const recent = await (place as SendableChannels & { messages: { fetch(o: { limit: number }): Promise<Map<string, Message>> } }).messages.fetch({ limit: 100 }).catch(() => null);
    const found = recent ? [...recent.values()].find(carries) : undefined;
    if (found) return found;
  }
  return null;
}

async function noteInThread(deps: BotDeps, thread: ThreadChannel, content: string, context: Record<string, unknown>): Promise<void> {
  await retrying(() => thread.send({ content, allowedMentions: NO_MENTIONS }), deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS).catch((err) =>
    deps.logger.warn({ err, ...context }, 'could not post a note in the thread'),
  );
}

/**
 * A thread for the result, or null where none can be started (DMs, threads, no permission). One an
 * earlier attempt started from the same message (a process killed after starting it) is used again.
 */
async function startThread(deps: BotDeps, from: Message, outcome: JobOutcome): Promise<ThreadChannel | null> {
  if (!canStartThread(from)) return null;
  if (from.thread) return from.thread;
  try {
    return await from.startThread({ name: threadName(outcome.job.prompt), autoArchiveDuration: 1440 });
  } catch (err) {
    // Discord's "a thread has already been created for this message": that thread has the message's id.
    if ((err as { code?: unknown }).code === 160004) {
      const thread = await from.client.channels.fetch(from.id).catch(() => null);
      if (thread?.isThread()) return thread;
    }
    deps.logger.info({ err, job: outcome.job.id }, 'could not start a thread; answering inline');
    return null;
  }
}

function canStartThread(message: Message): boolean {
  const channel = message.channel;
  return message.inGuild() && (channel.type === ChannelType.GuildText || channel.type === ChannelType.GuildAnnouncement);
}
