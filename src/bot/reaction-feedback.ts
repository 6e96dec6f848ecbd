import type { Message, MessageReaction, PartialMessage, PartialMessageReaction, PartialUser, User } from 'discord.js';
import { parseCustomId } from './custom-ids.ts';
import { recordSignal } from './feedback-signals.ts';
import type { BotDeps } from './bot-deps.ts';

const THUMBS: Record<string, 'up' | 'down'> = { '👍': 'up', '👎': 'down' };

/**
 * 👍 / 👎 added to or removed from one of the bot's results: a signal on the candidate it shows. The
 * job is found from the result's own buttons, so no message index is kept. Never throws.
 */
export async function handleReaction(
  reaction: MessageReaction | PartialMessageReaction,
  user: User | PartialUser,
  on: boolean,
  deps: BotDeps,
): Promise<void> {
  const thumb = THUMBS[reaction.emoji.name ?? ''];
  if (!thumb || user.id === reaction.client.user.id) return;
  try {
    const message = reaction.message.partial ? await reaction.message.fetch() : reaction.message;
    const jobId = resultJobId(message);
    if (!jobId) return;
    const job = await deps.stores.jobs.get(jobId);
    if (!job || job.deletedAt !== undefined) return;
    const group = await deps.stores.candidates.get(jobId);
    await recordSignal(deps, job, user.id, { kind: 'thumb', drawn: group?.shown ?? 0, thumb, on });
  } catch (err) {
    deps.logger.warn({ err }, 'could not read a reaction');
  }
}

/** The job a message of the bot's is the result of (its Regenerate button says), or undefined. */
function resultJobId(message: Message | PartialMessage): string | undefined {
  if (message.author?.id !== message.client.user.id) return undefined;
  for (const row of message.components) {
    if (!('components' in row)) continue;
    for (const component of row.components) {
      const parsed = 'customId' in component && component.customId ? parseCustomId(component.customId) : null;
      if (parsed?.action === 'regen') return parsed.jobId;
    }
  }
  return undefined;
}
