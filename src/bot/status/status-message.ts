import type { Message, MessageEditOptions } from 'discord.js';

/** A message the bot keeps up to date while a job waits and runs (an interaction reply or its own). */
export interface StatusMessage {
  edit(payload: MessageEditOptions): Promise<Message | null>;
  /** The message, where it is known before the first edit. */
  message?: Message;
}

/** The message each status last became (an edit's answer), the anchor for a replacement. */
const lastSeen = new WeakMap<StatusMessage, Message>();

/** One edit of a status; remembers the message it produced. */
export async function editStatus(status: StatusMessage, payload: MessageEditOptions): Promise<Message | null> {
  const message = await status.edit(payload);
  if (message) lastSeen.set(status, message);
  return message;
}

/** The message a status is shown in, as far as this process knows. */
export function statusAnchor(status: StatusMessage): Message | undefined {
  return lastSeen.get(status) ?? status.message;
}
