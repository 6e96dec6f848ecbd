import type { Message, MessageCreateOptions, MessageEditOptions } from 'discord.js';
import type { StatusLocation } from '../store/job-record.ts';
import { DISCORD_RETRY_DELAYS_MS, retrying } from './retry.ts';
import type { BotDeps } from './bot-deps.ts';

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

/** Where a status message is, for the job record (interaction replies are webhook messages). */
export function locationOf(message: Message): StatusLocation {
  return { channelId: message.channelId, messageId: message.id, kind: message.webhookId ? 'interaction' : 'bot' };
}

/**
 * A final state (done, failed, cancelled): the edit is retried with back-off, and if it never goes
 * through, a reply to the status message says it instead, so no status is left saying "thinking…" or
 * "Working on it". Never throws; returns the message that shows the state, or null.
 */
export async function settleStatus(deps: BotDeps, status: StatusMessage, payload: MessageEditOptions, context: Record<string, unknown>): Promise<Message | null> {
  const delays = deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS;
  try {
    return await retrying(() => editStatus(status, payload), delays);
  } catch (err) {
    deps.logger.warn({ err, ...context }, 'final status edit failed; replying instead');
  }
  const anchor = statusAnchor(status);
  if (!anchor) return null;
  try {
    const reply = { ...(payload as MessageCreateOptions), allowedMentions: { parse: [], repliedUser: false } } as MessageCreateOptions;
    return await retrying(() => anchor.reply(reply), delays);
  } catch (err) {
    deps.logger.warn({ err, ...context }, 'could not reply to the status either');
    return null;
  }
}
