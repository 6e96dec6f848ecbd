import { ChannelType, type Message, type ThreadChannel } from 'discord.js';
import { plainText } from '../../util/safe-text.ts';
import { DISCORD_RETRY_DELAYS_MS, retrying } from '../retry.ts';
import type { DeliveryDeps } from './delivery-deps.ts';

/**
 * A thread for a result, or null where none can be started (DMs, threads, no permission). One an
 * earlier attempt started from the same message (a process killed after starting it) is used again.
 */
export async function startResultThread(deps: DeliveryDeps, from: Message, prompt: string, context: Record<string, unknown>): Promise<ThreadChannel | null> {
  if (!canStartThread(from)) return null;
  if (from.thread) return from.thread;
  try {
    return await from.startThread({ name: threadName(prompt), autoArchiveDuration: 1440 });
  } catch (err) {
    // Discord's "a thread has already been created for this message": that thread has the message's id.
    if ((err as { code?: unknown }).code === 160004) {
      const thread = await from.client.channels.fetch(from.id).catch(() => null);
      if (thread?.isThread()) return thread;
    }
    deps.logger.info({ err, ...context }, 'could not start a thread; answering inline');
    return null;
  }
}

/** Thread names are plain text (no markdown, so nothing to escape), 1 to 100 characters. */
export function threadName(prompt: string): string {
  return plainText(prompt, 100, 'Personalized image');
}

/** A line in a result's thread that says where its image went (retried; a failure is logged). */
export async function noteInThread(deps: DeliveryDeps, thread: ThreadChannel, content: string, context: Record<string, unknown>): Promise<void> {
  await retrying(() => thread.send({ content, allowedMentions: { parse: [], repliedUser: false } }), deps.retryDelaysMs ?? DISCORD_RETRY_DELAYS_MS).catch((err) =>
    deps.logger.warn({ err, ...context }, 'could not post a note in the thread'),
  );
}

function canStartThread(message: Message): boolean {
  const channel = message.channel;
  return message.inGuild() && (channel.type === ChannelType.GuildText || channel.type === ChannelType.GuildAnnouncement);
}
