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
import type { JobOutcome } from '../service/generation-service.ts';
import { resultMessage, threadName, type StatusMessage } from './job-flow.ts';
import type { BotServices } from './services.ts';

/** Interaction tokens last 15 minutes; after 14 the bot stops using them. */
const TOKEN_SAFE_MS = 14 * 60_000;

type RepliedInteraction = ChatInputCommandInteraction | MessageComponentInteraction | ModalSubmitInteraction;

/**
 * The interaction's (already deferred or sent) reply as a StatusMessage, edited through the
 * interaction token while it is valid. A bot cannot edit an interaction reply with its own token (it
 * is a webhook message), so once the token is about to expire the status goes on in a message of the
 * bot's own, a reply to the first one, created on the first late edit.
 */
export async function interactionStatus(interaction: RepliedInteraction, services: BotServices): Promise<StatusMessage & { message: Message }> {
  const message = await interaction.fetchReply();
  const started = interaction.createdTimestamp;
  let own: Promise<Message> | undefined;
  return {
    message,
    edit: async (payload: MessageEditOptions) => {
      if (services.now() - started < TOKEN_SAFE_MS) return interaction.editReply(payload);
      if (own) return (await own).edit(payload);
      own = message.reply({ ...(payload as MessageCreateOptions), allowedMentions: { parse: [], repliedUser: false } });
      own.catch(() => (own = undefined));
      return own;
    },
  };
}

/** A message the bot sent itself, as a StatusMessage. */
export function messageStatus(message: Message): StatusMessage {
  return { edit: (payload) => message.edit(payload) };
}

export interface DeliverTarget {
  status: StatusMessage;
  trace: boolean;
  sizeLimit: number;
  /** Start a thread from this message for the result (a /personalize reply in a server channel). */
  startThreadFrom?: Message;
  /** Post the result in this channel (a thread the bot made, for follow-up jobs). */
  channel?: SendableChannels;
}

/**
 * Posts a finished job: in a new thread from the reply when possible, in the given thread for
 * follow-ups, inline in the reply otherwise (DMs, threads, no permission to start one).
 */
export async function deliverResult(services: BotServices, outcome: JobOutcome, target: DeliverTarget): Promise<void> {
  const payload = await resultMessage(outcome, { sizeLimit: target.sizeLimit, trace: target.trace });
  const { jobs } = services.stores;
  const jobId = outcome.job.id;

  if (target.channel) {
    // Remembered before posting, so a reply to the new image refines that image, not the one before.
    if (target.channel.isThread()) await rememberThread(services, target.channel.id, jobId, outcome.job.ownerId);
    const sent = await target.channel.send(payload);
    await jobs.update(jobId, { messageId: sent.id, threadId: target.channel.id });
    await target.status.edit({ content: `Done: ${sent.url}`, components: [] });
    return;
  }
  const thread = target.startThreadFrom && (await startThread(services, target.startThreadFrom, outcome));
  if (thread) {
    await rememberThread(services, thread.id, jobId, outcome.job.ownerId);
    const sent = await thread.send(payload);
    await jobs.update(jobId, { messageId: sent.id, threadId: thread.id });
    await target.status.edit({ content: 'Done: your image is in the thread. Reply there with more photos or words to refine it.', components: [] });
    return;
  }
  const edited = await target.status.edit({ ...payload, content: payload.content, files: payload.files, components: payload.components } as MessageEditOptions);
  if (edited) await jobs.update(jobId, { messageId: edited.id });
}

/** A thread for the result, or null where none can be started (DMs, threads, no permission). */
async function startThread(services: BotServices, from: Message, outcome: JobOutcome): Promise<ThreadChannel | null> {
  if (!canStartThread(from)) return null;
  try {
    return await from.startThread({ name: threadName(outcome.job.prompt), autoArchiveDuration: 1440 });
  } catch (err) {
    services.logger.info({ err, job: outcome.job.id }, 'could not start a thread; answering inline');
    return null;
  }
}

/** Threads the bot made, so a reply in one can be matched to its job and owner after a restart. */
export async function rememberThread(services: BotServices, threadId: string, jobId: string, ownerId: string): Promise<void> {
  await services.stores.store.meta.set(`thread:${threadId}`, { jobId, ownerId });
}

export async function threadJob(services: BotServices, threadId: string): Promise<{ jobId: string; ownerId: string } | undefined> {
  return (await services.stores.store.meta.get(`thread:${threadId}`)) as { jobId: string; ownerId: string } | undefined;
}

function canStartThread(message: Message): boolean {
  const channel = message.channel;
  return message.inGuild() && (channel.type === ChannelType.GuildText || channel.type === ChannelType.GuildAnnouncement);
}
