import {
  ChannelType,
  type ChatInputCommandInteraction,
  type Message,
  type MessageComponentInteraction,
  type MessageCreateOptions,
  type MessageEditOptions,
  type ModalSubmitInteraction,
  type SendableChannels,
  type ThreadChannel,
} from 'discord.js';
import type { JobOutcome } from '../jobs/generation-service.ts';
import type { JobPatch } from '../store/job-store.ts';
import { keptFromOutcome } from '../jobs/kept-outcome.ts';
import { resultMessage, threadName, type StatusMessage } from './job-flow.ts';
import { postAgainRow } from './post-again.ts';
import { scheduleRedelivery } from './redelivery.ts';
import { INTERNAL_ERROR_MESSAGE } from './reply-errors.ts';
import { DISCORD_RETRY_DELAYS_MS, retrying } from './retry.ts';
import type { BotDeps } from './bot-deps.ts';
import { editStatus, settleStatus, statusAnchor } from './status-edits.ts';
import { upscaleFactor } from './upscale-button.ts';

/** Pauses between attempts at a store write that must not be lost (a finished image's record). */
const STORE_RETRY_DELAYS_MS = [100, 500, 2_000];

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

/**
 * Posts a finished job, keeping the image until it is posted: in its thread (a new one from the
 * reply, or the follow-up's), retried with back-off; else in the status message itself; else as a
 * reply to it; else the image is kept in the store (JobStore.keepResult) and posted again later
 * (redelivery.ts). A thread left without the image says where it went. Never throws.
 */
export async function deliverResult(deps: BotDeps, outcome: JobOutcome, target: DeliverTarget, again: { attempt?: number } = {}): Promise<void> {
  const jobId = outcome.job.id;
  // One poster per result, across processes: a result is finished once but may be seen by a live
  // gateway and by another one's start-up pass over kept results.
  // The process that holds the claim settles the status too (the stored status location is the same message).
  if (!(await deps.claims.claim(jobId))) {
    deps.logger.info({ job: jobId }, 'result is being posted by another process');
    return;
  }
  let posted = false;
  try {
    posted = await postResult(deps, outcome, target, again);
  } finally {
    await (posted ? deps.claims.posted(jobId) : deps.claims.release(jobId)).catch((err) => deps.logger.warn({ err, job: jobId }, 'could not record the posting claim'));
  }
}

async function postResult(deps: BotDeps, outcome: JobOutcome, target: DeliverTarget, again: { attempt?: number }): Promise<boolean> {
  const { logger } = deps;
  const jobId = outcome.job.id;
  const context = { job: jobId };
  const delays = deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS;
  const upscale = await upscaleFactor(deps, outcome.job.guildId).catch(() => undefined);
  const payload = await resultMessage(outcome, { sizeLimit: target.sizeLimit, trace: target.trace, upscale });

  // A thread made for this result holds nothing else: if the image cannot go there it must say where it went.
  const made = target.thread ?? (!target.channel && target.startThreadFrom ? ((await startThread(deps, target.startThreadFrom, outcome)) ?? undefined) : undefined);
  const thread = made ?? (target.channel?.isThread() ? target.channel : undefined);
  const where = (thread ?? target.channel) as SendableChannels | undefined;
  if (where) {
    // Remembered before posting, so a reply to the new image refines that image, not the one before.
    if (thread) await deps.stores.threads.link(thread.id, jobId, outcome.job.ownerId).catch((err) => logger.warn({ err, ...context }, 'could not remember the thread'));
    try {
      const sent: Message = await retrying<Message>(() => where.send(payload), delays);
      await recordDelivered(deps, outcome, { messageId: sent.id, threadId: thread?.id });
      const done = target.channel ? (target.doneNote ?? DONE_BELOW) : 'Done: your image is in the thread. Reply there with more photos or words to refine it.';
      await settleStatus(deps, target.status, { content: done, components: [] }, context);
      return true;
    } catch (err) {
      logger.warn({ err, ...context }, 'could not post the result; posting it in the status message');
    }
  }
  try {
    const edited = await retrying(() => editStatus(target.status, { ...payload, content: payload.content, files: payload.files, components: payload.components } as MessageEditOptions), delays);
    if (edited) {
      await recordDelivered(deps, outcome, { messageId: edited.id });
      if (made) await noteInThread(deps, made, 'The image is in the message this thread starts from.', context);
      return true;
    }
  } catch (err) {
    logger.warn({ err, ...context }, 'could not post the result in the status message; replying to it');
  }
  const anchor = statusAnchor(target.status);
  if (anchor) {
    try {
      const sent = await retrying(() => anchor.reply({ ...payload, allowedMentions: NO_MENTIONS }), delays);
      await recordDelivered(deps, outcome, { messageId: sent.id });
      await target.status.edit({ content: `Done: ${sent.url}`, components: [] }).catch(() => {});
      if (made) await noteInThread(deps, made, `The image is here: ${sent.url}`, context);
      return true;
    } catch (err) {
      logger.warn({ err, ...context }, 'could not reply with the result either');
    }
  }
  await keepResult(deps, outcome, target, made, again.attempt ?? 0);
  return false;
}

/** The record says done (a failed `done` write is made good here) and where the image is. */
async function recordDelivered(deps: BotDeps, outcome: JobOutcome, where: { messageId: string; threadId?: string }): Promise<void> {
  const { jobs } = deps.stores;
  const jobId = outcome.job.id;
  const patch: JobPatch = { status: 'done', messageId: where.messageId, ...(where.threadId ? { threadId: where.threadId } : {}) };
  if (outcome.grounding.text) patch.grounding = outcome.grounding.text;
  try {
    await retrying(() => jobs.update(jobId, patch), STORE_RETRY_DELAYS_MS, () => true);
    await jobs.dropKeptResult(jobId);
  } catch (err) {
    deps.logger.warn({ err, job: jobId }, 'result posted, but the record was not updated');
  }
}

/** Nothing took the image: it goes into the store until redelivery.ts posts it, and the user is told. */
async function keepResult(deps: BotDeps, outcome: JobOutcome, target: DeliverTarget, made: ThreadChannel | undefined, attempt: number): Promise<void> {
  const jobId = outcome.job.id;
  const kept = keptFromOutcome(outcome, { trace: target.trace, sizeLimit: target.sizeLimit, ...(made ? { threadId: made.id } : {}) });
  try {
    await retrying(() => deps.stores.jobs.keepResult(jobId, kept), STORE_RETRY_DELAYS_MS, () => true);
  } catch (err) {
    deps.logger.error({ err, job: jobId }, 'finished image lost: neither Discord nor the store took it');
    await settleStatus(deps, target.status, { content: INTERNAL_ERROR_MESSAGE, components: [] }, { job: jobId });
    return;
  }
  deps.logger.warn({ job: jobId, attempt }, 'result kept for posting later');
  // Told once; a timer's later attempts that fail again say nothing new.
  if (attempt === 0) {
    await settleStatus(deps, target.status, { content: KEPT_MESSAGE, components: [postAgainRow(jobId)] }, { job: jobId });
    if (made) await noteInThread(deps, made, KEPT_NOTE, { job: jobId });
  }
  const client = made?.client ?? target.channel?.client ?? statusAnchor(target.status)?.client;
  if (client) scheduleRedelivery(deps, client, jobId, attempt);
}

async function noteInThread(deps: BotDeps, thread: ThreadChannel, content: string, context: Record<string, unknown>): Promise<void> {
  await retrying(() => thread.send({ content, allowedMentions: NO_MENTIONS }), deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS).catch((err) =>
    deps.logger.warn({ err, ...context }, 'could not post a note in the thread'),
  );
}

/** A thread for the result, or null where none can be started (DMs, threads, no permission). */
async function startThread(deps: BotDeps, from: Message, outcome: JobOutcome): Promise<ThreadChannel | null> {
  if (!canStartThread(from)) return null;
  try {
    return await from.startThread({ name: threadName(outcome.job.prompt), autoArchiveDuration: 1440 });
  } catch (err) {
    deps.logger.info({ err, job: outcome.job.id }, 'could not start a thread; answering inline');
    return null;
  }
}

function canStartThread(message: Message): boolean {
  const channel = message.channel;
  return message.inGuild() && (channel.type === ChannelType.GuildText || channel.type === ChannelType.GuildAnnouncement);
}
