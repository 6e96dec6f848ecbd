import type { Message, SendableChannels, ThreadChannel } from 'discord.js';
import { statusAnchor } from '../status/status-message.ts';
import type { DeliverTarget } from './delivery-target.ts';
import { resultFilePrefix } from './result-files.ts';

/**
 * A message of the bot's carrying this job's image (file names carry the job id: result-files.ts), in
 * its thread, its status message, or the status' channel; null when there is none (or nothing can be read).
 */
export async function findPost(jobId: string, target: DeliverTarget, thread: ThreadChannel | SendableChannels | undefined): Promise<Message | null> {
  const prefix = resultFilePrefix(jobId);
  const carries = (m: Message): boolean => m.author.id === m.client.user.id && m.attachments.some((a) => a.name.startsWith(prefix));
  const anchor = statusAnchor(target.status);
  const fresh = anchor ? await anchor.fetch().catch(() => anchor) : undefined;
  if (fresh && carries(fresh)) return fresh;
  const places = [thread, target.channel, anchor?.channel].filter((c, i, all): c is SendableChannels => !!c && all.indexOf(c) === i && 'messages' in c);
  for (const place of places) {
    const recent = await (place as SendableChannels & { messages: { fetch(o: { limit: number }): Promise<Map<string, Message>> } }).messages.fetch({ limit: 100 }).catch(() => null);
    const found = recent ? [...recent.values()].find(carries) : undefined;
    if (found) return found;
  }
  return null;
}
