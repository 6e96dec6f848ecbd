import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  EmbedBuilder,
  StringSelectMenuBuilder,
  type Message,
  type MessageCreateOptions,
  type MessageEditOptions,
} from 'discord.js';
import { CancelledError } from '../errors.ts';
import { reencodeToFit } from '../images/encode.ts';
import { loadImage } from '../images/load.ts';
import type { JobOutcome } from '../jobs/job-outcome.ts';
import { JobLife } from '../jobs/job-life.ts';
import type { JobRecord } from '../store/index.ts';
import { candidateLine, candidateMenu, keepButton, scoringStat, type CandidateView } from './candidate-view.ts';
import { customId, upscaleId } from './custom-ids.ts';
import { userMessage } from './reply-errors.ts';
import { plainText, safeText } from '../util/safe-text.ts';
import { truncateChars } from '../util/text-length.ts';
import type { BotDeps } from './bot-deps.ts';
import { editStatus, locationOf, settleStatus, type StatusMessage } from './status-edits.ts';

export interface RunOptions {
  /** A line above the queue position and progress (a resumed job: the bot restarted). */
  note?: string;
}

const STATUS_EDIT_INTERVAL_MS = 3000;
const NO_MENTIONS = { parse: [] as [] };

/**
 * Queues a stored job and keeps `status` current (position, ETA, progress, a Cancel button); when
 * the job ends, `deliver` posts the result, or the status says why not. Never throws.
 */
export async function runJob(
  deps: BotDeps,
  job: JobRecord,
  status: StatusMessage,
  deliver: (outcome: JobOutcome) => Promise<void>,
  options: RunOptions = {},
): Promise<void> {
  const { generation, queue, logger } = deps;
  let lastEdit = 0;
  let pending: NodeJS.Timeout | undefined;
  let progress = '';
  let finished = false;
  const cancelRow = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('cancel', job.id)).setLabel('Cancel').setStyle(ButtonStyle.Secondary),
  );

  const render = (): string => (options.note ? `${options.note}\n${state()}` : state());
  const state = (): string => {
    const eta = queue.eta(job.id, generation.averageJobMs());
    if (!eta) return progress || 'Starting…';
    if (eta.position === 0) return progress || 'Working on it…';
    const waiting = queue.snapshot().waiting.length;
    const when = Math.round((Date.now() + eta.finishesInMs) / 1000);
    return `In the queue: position ${eta.position} of ${waiting}, ready about <t:${when}:R>.`;
  };
  // The record learns where the status is, so a process started after this one dies can tell the user.
  let located = job.statusMessage?.messageId;
  const locate = async (message: Message | null | undefined): Promise<void> => {
    if (!message || message.id === located) return;
    located = message.id;
    await deps.stores.jobs.update(job.id, { statusMessage: locationOf(message) }).catch((err) => logger.warn({ err, job: job.id }, 'could not record the status location'));
  };
  // Written before any edit shows the job (a process killed right after one still knows where the status
  // is), without an await before the job is queued: callers rely on runJob queuing it synchronously.
  const recorded = locate(status.message);
  const edit = async (payload: MessageEditOptions): Promise<void> => {
    await recorded;
    await locate(await editStatus(status, payload));
  };
  // Edits are coalesced and spaced, so a busy queue never floods Discord's rate limits.
  const refresh = (): void => {
    if (finished || pending) return;
    const wait = Math.max(0, lastEdit + STATUS_EDIT_INTERVAL_MS - Date.now());
    pending = setTimeout(() => {
      pending = undefined;
      if (finished) return;
      lastEdit = Date.now();
      edit({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, job: job.id }, 'status edit failed'));
    }, wait);
  };

  let handle;
  try {
    handle = generation.submit(job, {
      onStart: () => {
        progress = 'Reading your photos…';
        refresh();
      },
      onStep: (done, total) => {
        progress = drawingProgress(job, done, total);
        refresh();
      },
    });
  } catch (err) {
    // Refused at enqueue (the queue closed, a place that expired): undo the intake, so photos stored only
    // for this job do not stay behind. Photos another job or subject refers to keep their other referrers.
    await deps.stores.photos.release(job.photoHashes ?? [], `job:${job.id}`).catch(() => {});
    await new JobLife(deps.stores).settled(job.id, 'failed', err).catch(() => {});
    await status.edit({ content: userMessage(err, logger, { job: job.id }), components: [], allowedMentions: NO_MENTIONS }).catch(() => {});
    return;
  }
  const unsubscribe = queue.subscribe(refresh);
  lastEdit = Date.now();
  await edit({ content: render(), components: [cancelRow], allowedMentions: NO_MENTIONS }).catch((err) => logger.warn({ err, job: job.id }, 'status edit failed'));
  try {
    const outcome = await handle.result;
    finished = true;
    await deliver(outcome);
  } catch (err) {
    finished = true;
    // "Cancelled by you." says it already; other reasons follow the word ("Cancelled. The server ...").
    const text = err instanceof CancelledError ? (/^Cancelled\b/.test(err.message) ? err.message : `Cancelled. ${err.message}`.trim()) : userMessage(err, logger, { job: job.id });
    await settleStatus(deps, status, { content: text, components: [], allowedMentions: NO_MENTIONS }, { job: job.id });
  } finally {
    finished = true;
    clearTimeout(pending);
    unsubscribe();
  }
}

/** Scoring has no hook of its own in GenerationService: a group's last drawing step is where it starts. */
export const SCORING_PROGRESS = 'Scoring candidates…';

/** The status line for a drawing step: the percentage drawn, then, for a group of candidates, scoring. */
export function drawingProgress(job: Pick<JobRecord, 'candidates' | 'upscale'>, done: number, total: number): string {
  if (job.upscale) return total > 1 ? `Upscaling… tile ${done} of ${total}` : 'Upscaling…';
  if (done >= total && (job.candidates ?? 1) > 1) return SCORING_PROGRESS;
  return `Drawing… ${Math.floor((100 * done) / total)}%`;
}

/**
 * The result message: images, prompt, seed and timings, and the buttons that act on this job.
 * `upscale`: the Upscale button's factor under each image (absent: no button).
 */
export async function resultMessage(outcome: JobOutcome, options: { sizeLimit: number; trace: boolean; upscale?: number }): Promise<MessageCreateOptions> {
  const { job, generation, grounding } = outcome;
  const files: AttachmentBuilder[] = [];
  const reencoded: string[] = [];
  let budget = Math.min(25 * 2 ** 20, options.sizeLimit * generation.images.length);
  for (const [i, img] of generation.images.entries()) {
    let data = img.data;
    let ext = img.format;
    if (data.byteLength > options.sizeLimit) {
      // Over the channel's upload limit: smaller encoding, never a dropped image.
      const rgb = await loadImage(data, { maxBytes: Number.MAX_SAFE_INTEGER, maxPixels: img.width * img.height });
      const fitted = await reencodeToFit(rgb.data, rgb.width, rgb.height, Math.min(options.sizeLimit, budget / (generation.images.length - i)));
      data = fitted.data;
      ext = fitted.format;
      if (fitted.format !== img.format) reencoded.push(`${fitted.format === 'webp' ? 'WebP' : fitted.format.toUpperCase()}${fitted.quality ? ` quality ${fitted.quality}` : ''}`);
    }
    budget -= data.byteLength;
    files.push(new AttachmentBuilder(data, { name: `xcot-${job.id}-${img.seed}${job.upscale ? '-upscaled' : ''}.${ext}` }));
  }
  if (job.upscale) return upscaleMessage(job, generation, files, reencoded, options.sizeLimit);
  const group = outcome.group;
  const seeds = generation.images.map((i) => i.seed).join(', ');
  const stage1 = job.photoHashes?.length || job.subjectId ? (grounding.cached ? 'grounding cached' : `grounding ${(grounding.ms / 1000).toFixed(1)} s`) : 'no subject photos';
  const drawnImages = group?.candidates ?? generation.images;
  const tokens = drawnImages.reduce((n, img) => n + img.imageTokens.length, 0);
  const drawing = `${(generation.timings.tokensMs / 1000).toFixed(1)} s for ${tokens} image tokens${group ? ` (${group.candidates.length} candidates) · ${scoringStat(group)}` : ''}`;
  const stats = `Seed ${seeds} · ${stage1} · ${drawing}${group ? `\n${candidateLine(group, group.candidates[0].drawn)}` : ''}`;
  // The user's words shown literally (no markdown, links or timestamps), cut to fit beside the stats.
  const name = job.name ? `${safeText(job.name, { max: 200 })}: ` : '';
  const content = truncateChars(`**${name}${safeText(job.prompt, { max: Math.max(1, 2000 - stats.length - name.length - 5) })}**\n${stats}`, 2000);
  const embeds = options.trace && (job.photoHashes?.length || job.subjectId) ? [reasoningEmbed(grounding.text)] : [];
  const shown = group ? { view: group, shown: group.candidates[0].drawn } : undefined;
  return { content, files, embeds, components: resultButtons(job, shown, { upscale: options.upscale, images: generation.images.length }), allowedMentions: NO_MENTIONS };
}

/** An upscaled image: its size and time, and what it was sent as when a PNG would not fit the channel. */
function upscaleMessage(job: JobRecord, generation: JobOutcome['generation'], files: AttachmentBuilder[], reencoded: string[], sizeLimit: number): MessageCreateOptions {
  const img = generation.images[0];
  const factor = job.upscale!.maxScale && job.upscale!.maxScale < job.upscale!.scale ? job.upscale!.maxScale : job.upscale!.scale;
  const lines = [`**Upscaled ×${factor}**: ${img.width} × ${img.height} · ${(generation.timings.tokensMs / 1000).toFixed(1)} s`];
  if (reencoded.length) lines.push(`Sent as ${reencoded[0]}: a PNG of this size would not fit this channel's upload limit (${Math.round(sizeLimit / 2 ** 20)} MiB).`);
  const owner = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('delete', job.id)).setLabel('Delete').setStyle(ButtonStyle.Danger),
  );
  return { content: lines.join('\n'), files, embeds: [], components: [owner], allowedMentions: NO_MENTIONS };
}

/**
 * The buttons under a result; with a group of more than one candidate, the menu that shows another and
 * Keep this one; with `upscale`, an Upscale button per image ("Upscale ×4", or U1 ×4 ... with several).
 */
export function resultButtons(
  job: JobRecord,
  group?: { view: CandidateView; shown: number },
  extra: { upscale?: number; images?: number } = {},
): ActionRowBuilder<ButtonBuilder | StringSelectMenuBuilder>[] {
  const hasPhotos = Boolean(job.photoHashes?.length || job.subjectId);
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('regen', job.id)).setLabel('Regenerate').setStyle(ButtonStyle.Primary),
    new ButtonBuilder().setCustomId(customId('vary', job.id)).setLabel('Variations').setStyle(ButtonStyle.Secondary),
    new ButtonBuilder().setCustomId(customId('why', job.id)).setLabel('Show reasoning').setStyle(ButtonStyle.Secondary).setDisabled(!hasPhotos),
    new ButtonBuilder().setCustomId(customId('save', job.id)).setLabel('Save subject').setStyle(ButtonStyle.Secondary).setDisabled(!job.photoHashes?.length),
    new ButtonBuilder().setCustomId(customId('refine', job.id)).setLabel('Refine').setStyle(ButtonStyle.Secondary),
  );
  // A row holds five buttons. Delete works for the owner and moderators (src/bot/components/delete-result.ts).
  const owner = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('delete', job.id)).setLabel('Delete').setStyle(ButtonStyle.Danger),
  );
  const images = extra.images ?? 1;
  const upscale = extra.upscale
    ? [
        new ActionRowBuilder<ButtonBuilder>().addComponents(
          Array.from({ length: Math.min(images, 5) }, (_, i) =>
            new ButtonBuilder().setCustomId(upscaleId(job.id, i)).setLabel(images === 1 ? `Upscale ×${extra.upscale}` : `U${i + 1} ×${extra.upscale}`).setStyle(ButtonStyle.Secondary),
          ),
        ),
      ]
    : [];
  if (!group || group.view.candidates.length < 2) return [row, owner, ...upscale];
  owner.addComponents(keepButton(job.id));
  return [candidateMenu(job.id, group.view, group.shown), row, owner, ...upscale];
}

/** What an empty grounding means, in words: the model described nothing, and the picture went on without it. */
export const EMPTY_GROUNDING = 'The model wrote nothing about your subject this time (an empty grounding), so the picture was drawn from your words and photos alone.';

export function reasoningEmbed(text: string): EmbedBuilder {
  // Model output, but it repeats the user's name and context: shown literally like user text.
  // Control, private-use and unassigned characters and U+FFFD (bytes of a character cut by the model) carry nothing to read.
  const readable = text.replace(/[\p{Cc}\p{Co}\p{Cn}\p{Cs}\uFFFD]/gu, (c) => (c === '\n' ? c : '')).trim();
  return new EmbedBuilder().setTitle('How I see your subject').setDescription(readable ? safeText(readable, { max: 4096 }) : EMPTY_GROUNDING);
}

/** Thread names are plain text (no markdown, so nothing to escape), 1 to 100 characters. */
export function threadName(prompt: string): string {
  return plainText(prompt, 100, 'Personalized image');
}

