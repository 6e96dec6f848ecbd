import type { Client, Message, SendableChannels, ThreadChannel } from 'discord.js';
import { statusAnchor, type StatusMessage } from '../status/status-message.ts';

/** Where a result goes and how it is sent. */
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

/** The client a result's target talks through (for a later attempt's timer). */
export function targetClient(target: DeliverTarget): Client | undefined {
  return target.thread?.client ?? target.channel?.client ?? target.startThreadFrom?.client ?? statusAnchor(target.status)?.client;
}
