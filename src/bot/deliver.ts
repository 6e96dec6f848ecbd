import {
  ChannelType,
  type ChatInputCommandInteraction,
  type Message,
  type MessageComponentInteraction,
  type MessageEditOptions,
  type ModalSubmitInteraction,
  type SendableChannels,
} from 'discord.js';
import type { JobOutcome } from '../service/generation-service.ts';
import { resultMessage, threadName, type StatusMessage } from './job-flow.ts';
import type { BotServices } from './services.ts';

/** Interaction tokens last 15 minutes; after 14 the bot edits with its own token instead. */
const TOKEN_SAFE_MS = 14 * 60_000;

type RepliedInteraction = ChatInputCommandInteraction | MessageComponentInteraction | ModalSubmitInteraction;

/**
 * The interaction's (already deferred or sent) reply as a StatusMessage: edited through the
 * interaction token while it is valid, through the channel with the bot token afterwards.
 */
export async function interactionStatus(interaction: RepliedInteraction): Promise<StatusMessage & { message: Message }> {
  const message = await interaction.fetchReply();
  const started = interaction.createdTimestamp;
  return {
    message,
    edit: async (payload: MessageEditOptions) => {
      if (Date.now() - started < TOKEN_SAFE_MS) return interaction.editReply(payload);
      return message.edit(payload);
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
    const sent = await target.channel.send(payload);
    await jobs.update(jobId, { messageId: sent.id, threadId: target.channel.id });
    if (target.channel.isThread()) await rememberThread(services, target.channel.id, jobId, outcome.job.ownerId);
    await target.status.edit({ content: `Done: ${sent.url}`, components: [] });
    return;
  }
  const from = target.startThreadFrom;
  if (from && canStartThread(from)) {
    try {
      const thread = await from.startThread({ name: threadName(outcome.job.prompt), autoArchiveDuration: 1440 });
      const sent = await thread.send(payload);
      await jobs.update(jobId, { messageId: sent.id, threadId: thread.id });
      await rememberThread(services, thread.id, jobId, outcome.job.ownerId);
      await target.status.edit({ content: 'Done: your image is in the thread. Reply there with more photos or words to refine it.', components: [] });
      return;
    } catch (err) {
      services.logger.info({ err, job: jobId }, 'could not start a thread; answering inline');
    }
  }
  const edited = await target.status.edit({ ...payload, content: payload.content, files: payload.files, components: payload.components } as MessageEditOptions);
  if (edited) await jobs.update(jobId, { messageId: edited.id });
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
