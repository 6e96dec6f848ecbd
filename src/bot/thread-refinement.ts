import type { Message, SendableChannels } from 'discord.js';
import { messageStatus } from './deliver.ts';
import { followUpJob } from './follow-up-jobs.ts';
import { userMessage } from './reply-errors.ts';
import type { BotDeps } from './bot-deps.ts';
import { startJob } from './start-job.ts';

/** Discord's default per-file limit for bots, used when no interaction has told us the channel's. */
const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;

/**
 * A message in a thread the bot made, from the thread's owner, refines the last image: new photos
 * join the subject, new text replaces the prompt (none keeps it), and both stages run again.
 */
export async function handleThreadMessage(message: Message, deps: BotDeps): Promise<void> {
  if (message.author.bot || !message.channel.isThread()) return;
  const known = await deps.stores.threads.lookup(message.channelId);
  if (!known || known.ownerId !== message.author.id) return;
  const photos = [...message.attachments.values()].map((a) => ({ url: a.url, name: a.name, size: a.size }));
  const text = message.content.replace(/<@!?\d+>/g, '').trim();
  if (!photos.length && !text) return;

  const reply = await message.reply({ content: 'Refining…', allowedMentions: { repliedUser: false } });
  const status = messageStatus(reply);
  const parent = await deps.stores.jobs.get(known.jobId);
  if (!parent) {
    await status.edit({ content: 'That image is too old to refine; start again with /personalize.' });
    return;
  }
  let job;
  try {
    job = await followUpJob(deps, parent, { prompt: text, photos });
  } catch (err) {
    await status.edit({ content: userMessage(err, deps.logger, { thread: message.channelId }), components: [] });
    return;
  }
  await startJob(deps, job, status, { trace: false, sizeLimit: job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT, channel: message.channel as SendableChannels });
}
