import type { Client, Message, SendableChannels, ThreadChannel } from 'discord.js';
import type { JobRecord } from '../../store/job-record.ts';
import { customId } from '../custom-ids.ts';
import { messageStatus } from '../status/message-status.ts';
import { replyStatus } from '../status/reply-status.ts';
import type { DeliverTarget } from './delivery-target.ts';

/** Discord's default upload limit, for a record that does not know its channel's. */
const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;

/**
 * A job's status message and where its result goes, rebuilt from the record by a process that has no
 * interaction token: the bot's own status message is edited; an interaction reply is answered by a
 * reply of the bot's own, which is edited from then on. Null when the channel is gone or out of reach.
 */
export async function storedTarget(client: Client, job: JobRecord, thread?: ThreadChannel): Promise<DeliverTarget | null> {
  const location = job.statusMessage;
  const channel = await fetchSendable(client, location?.channelId ?? job.channelId);
  if (!channel) return null;
  const message = location ? await fetchMessage(channel, location.messageId) : await findStatus(channel, job.id);
  const own = message && (location ? location.kind === 'bot' : !message.webhookId);
  const status = message && own ? messageStatus(message) : replyStatus(channel, message);
  const followUpThread = !thread && job.threadId ? await fetchSendable(client, job.threadId) : null;
  return {
    status,
    trace: false,
    sizeLimit: job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT,
    thread,
    channel: followUpThread ?? undefined,
    startThreadFrom: thread || followUpThread ? undefined : (message ?? undefined),
  };
}

async function fetchMessage(channel: SendableChannels, id: string): Promise<Message | null> {
  return 'messages' in channel ? channel.messages.fetch(id).catch(() => null) : null;
}

/**
 * A status whose place the record missed (the process died between showing it and writing its place):
 * the recent message that carries the job's Cancel button.
 */
async function findStatus(channel: SendableChannels, jobId: string): Promise<Message | null> {
  if (!('messages' in channel)) return null;
  const recent = await channel.messages.fetch({ limit: 100 }).catch(() => null);
  const cancel = customId('cancel', jobId);
  return recent?.find((m) => JSON.stringify(m.components).includes(JSON.stringify(cancel))) ?? null;
}

async function fetchSendable(client: Client, id: string): Promise<SendableChannels | null> {
  const channel = await client.channels.fetch(id).catch(() => null);
  return channel?.isSendable() ? channel : null;
}
