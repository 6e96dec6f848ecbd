import type { Message } from 'discord.js';
import type { StatusLocation } from '../../store/job-record.ts';

/** Where a status message is, for the job record (interaction replies are webhook messages). */
export function locationOf(message: Message): StatusLocation {
  return { channelId: message.channelId, messageId: message.id, kind: message.webhookId ? 'interaction' : 'bot' };
}
