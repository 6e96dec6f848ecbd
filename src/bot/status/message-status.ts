import type { Message } from 'discord.js';
import type { StatusMessage } from './status-message.ts';

/** A message the bot sent itself, as a StatusMessage. */
export function messageStatus(message: Message): StatusMessage {
  return { message, edit: (payload) => message.edit(payload) };
}
