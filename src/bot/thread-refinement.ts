import type { Message, SendableChannels } from 'discord.js';
import { followUpJob } from './follow-up-jobs.ts';
import { assertPhotoConsent } from './photo-consent.ts';
import { editPrompt } from './prompt-edit.ts';
import { userMessage } from './reply-errors.ts';
import type { BotDeps } from './bot-deps.ts';
import { startJob } from './start-job.ts';
import { messageStatus } from './status/message-status.ts';
import { getServerSettings } from '../store/server-settings.ts';
import { safeText } from '../util/safe-text.ts';

/** Discord's default per-file limit for bots, used when no interaction has told us the channel's. */
const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;

/**
 * A message in a thread the bot made, from the thread's owner, refines the last image: new photos
 * join the subject, new text edits the request (prompt-edit.ts: "now make him wear sunglasses" adds to
 * it, none keeps it), both stages run again, and the status says what changed and what is drawn.
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
  const edit = text ? editPrompt(parent.prompt, text) : undefined;
  let admitted;
  try {
    if (photos.length) await assertPhotoConsent(deps, parent.ownerId, await getServerSettings(deps.stores, parent.guildId));
    admitted = await followUpJob(deps, parent, { prompt: edit?.prompt ?? '', photos });
  } catch (err) {
    await status.edit({ content: userMessage(err, deps.logger, { thread: message.channelId }), components: [] });
    return;
  }
  const { job, ticket } = admitted;
  const added = photos.length ? `added ${photos.length === 1 ? 'your photo' : `your ${photos.length} photos`} to the subject` : '';
  const change = [edit?.change, added].filter(Boolean).join(', and ');
  const what = `Refined: ${safeText(change, { max: 300 })}.`;
  const prompt = `**${safeText(job.prompt, { max: 1200 })}**`;
  await startJob(deps, job, status, {
    ticket,
    trace: false,
    sizeLimit: job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT,
    channel: message.channel as SendableChannels,
    note: `${what} Drawing ${prompt}`,
    doneNote: `Done. ${what} Drew ${prompt}; the new image is below.`,
  });
}
