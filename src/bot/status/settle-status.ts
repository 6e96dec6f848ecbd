import type { Message, MessageCreateOptions, MessageEditOptions } from 'discord.js';
import type { Logger } from 'pino';
import { DISCORD_RETRY_DELAYS_MS, retrying } from '../retry.ts';
import { editStatus, statusAnchor, type StatusMessage } from './status-message.ts';

/** What settling a status needs of the bot's dependencies (DeliveryDeps, and so BotDeps, extend it). */
export interface StatusDeps {
  logger: Logger;
  /** Pauses between attempts at posting a result or a final status (default DISCORD_RETRY_DELAYS_MS; tests shorten them). */
  retryDelaysMs?: readonly number[];
}

/**
 * A final state (done, failed, cancelled): the edit is retried with back-off, and if it never goes
 * through, a reply to the status message says it instead, so no status is left saying "thinking…" or
 * "Working on it". Never throws; returns the message that shows the state, or null.
 */
export async function settleStatus(deps: StatusDeps, status: StatusMessage, payload: MessageEditOptions, context: Record<string, unknown>): Promise<Message | null> {
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
