import type { MessageCreateOptions } from 'discord.js';
import type { JobOutcome } from '../../jobs/job-outcome.ts';
import type { JobRecord } from '../../store/index.ts';
import { safeText } from '../../util/safe-text.ts';
import { truncateChars } from '../../util/text-length.ts';
import { candidateLine, scoringStat } from './candidate-view.ts';
import { reasoningEmbed } from './reasoning-embed.ts';
import { deleteRow, resultButtons } from './result-buttons.ts';
import { resultFiles } from './result-files.ts';
import { encodingLabel } from '../../images/upload-fit.ts';

const NO_MENTIONS = { parse: [] as [] };

/**
 * The result message: images, prompt, seed and timings, and the buttons that act on this job.
 * `upscale`: the Upscale button's factor under each image (absent: no button).
 */
export async function resultMessage(outcome: JobOutcome, options: { sizeLimit: number; trace: boolean; upscale?: number }): Promise<MessageCreateOptions> {
  const { job, generation, grounding } = outcome;
  const { files, images } = await resultFiles(outcome, options.sizeLimit);
  if (job.upscale) return { content: upscaleText(job, { ...generation, images }, options.sizeLimit), files, embeds: [], components: [deleteRow(job.id)], allowedMentions: NO_MENTIONS };
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
function upscaleText(job: JobRecord, generation: JobOutcome['generation'], sizeLimit: number): string {
  const img = generation.images[0];
  const factor = job.upscale!.maxScale && job.upscale!.maxScale < job.upscale!.scale ? job.upscale!.maxScale : job.upscale!.scale;
  const lines = [`**Upscaled ×${factor}**: ${img.width} × ${img.height} · ${(generation.timings.tokensMs / 1000).toFixed(1)} s`];
  // The upscaler makes PNGs: another format is one encoded again to fit.
  if (img.format !== 'png') lines.push(`Sent as ${encodingLabel(img)}: a PNG of this size would not fit this channel's upload limit (${Math.round(sizeLimit / 2 ** 20)} MiB).`);
  return lines.join('\n');
}
