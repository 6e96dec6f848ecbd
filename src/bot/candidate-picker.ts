import { AttachmentBuilder, MessageFlags, type ButtonInteraction, type StringSelectMenuInteraction } from 'discord.js';
import { InputError } from '../errors.ts';
import { reencodeToFit } from '../images/encode.ts';
import { loadImage } from '../images/load.ts';
import type { CandidateGroupRecord, JobRecord } from '../store/index.ts';
import { candidateLine } from './candidate-view.ts';
import { parseCustomId } from './custom-ids.ts';
import { recordSignal } from './feedback-signals.ts';
import { resultButtons } from './job-flow.ts';
import { userMessage } from './reply-errors.ts';
import type { BotDeps } from './bot-deps.ts';

/**
 * The candidate menu and Keep this one under a group's result. The owner's choice swaps the shown
 * image (an edit of the result's attachment) and is their pick; anyone else sees the candidate alone.
 * Everything comes from the store, so this works after a restart.
 */
export async function handleCandidateComponent(interaction: StringSelectMenuInteraction | ButtonInteraction, deps: BotDeps): Promise<void> {
  const parsed = parseCustomId(interaction.customId);
  try {
    if (!parsed) throw new InputError('stale', 'That menu is out of date; start again with /personalize.');
    const job = await deps.stores.jobs.get(parsed.jobId);
    if (!job || job.deletedAt !== undefined) throw new InputError('job_gone', 'That image is too old or was deleted; start again with /personalize.');
    const group = await deps.stores.candidates.get(job.id);
    if (!group) throw new InputError('candidates_gone', 'The other candidates of this image are no longer kept.');
    if (interaction.isStringSelectMenu()) return await choose(interaction, deps, job, group);
    return await keep(interaction, deps, job, group);
  } catch (err) {
    const content = userMessage(err, deps.logger, { customId: interaction.customId });
    if (interaction.deferred || interaction.replied) await interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).catch(() => {});
    else await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).catch(() => {});
  }
}

async function choose(interaction: StringSelectMenuInteraction, deps: BotDeps, job: JobRecord, group: CandidateGroupRecord): Promise<void> {
  const value = interaction.values[0] ?? '';
  const candidate = /^\d{1,2}$/.test(value) ? group.candidates.find((c) => c.drawn === Number(value)) : undefined;
  if (!candidate) throw new InputError('no_candidate', 'That candidate is not part of this image.');
  const file = await candidateFile(job, candidate, interaction.attachmentSizeLimit);
  if (interaction.user.id !== job.ownerId) {
    await interaction.reply({ content: candidateLine(group, candidate.drawn), files: [file], flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    return;
  }
  await interaction.update({
    content: swappedContent(interaction.message.content, group, candidate),
    files: [file],
    attachments: [],
    components: resultButtons(job, { view: group, shown: candidate.drawn }),
    allowedMentions: { parse: [] },
  });
  await deps.stores.candidates.setShown(job.id, candidate.drawn);
  await recordSignal(deps, job, interaction.user.id, { kind: 'pick', drawn: candidate.drawn });
}

async function keep(interaction: ButtonInteraction, deps: BotDeps, job: JobRecord, group: CandidateGroupRecord): Promise<void> {
  if (interaction.user.id !== job.ownerId) throw new InputError('not_owner', 'Only the person who made this image can do that.');
  const recorded = await recordSignal(deps, job, interaction.user.id, { kind: 'pick', drawn: group.shown });
  const which = candidateLine(group, group.shown).split(' · ')[0];
  await interaction.reply({ content: recorded ? `Kept: ${which}. Thanks, noted.` : `Kept: ${which}.`, flags: MessageFlags.Ephemeral });
}

/** A candidate's image as an attachment, encoded smaller when it is over the channel's upload limit. */
async function candidateFile(job: JobRecord, candidate: { data: string; format: string; seed: number }, sizeLimit: number): Promise<AttachmentBuilder> {
  let data: Uint8Array = Buffer.from(candidate.data, 'base64');
  let ext = candidate.format;
  if (data.byteLength > sizeLimit) {
    const rgb = await loadImage(data, { maxBytes: Number.MAX_SAFE_INTEGER });
    const fitted = await reencodeToFit(rgb.data, rgb.width, rgb.height, sizeLimit);
    data = fitted.data;
    ext = fitted.format;
  }
  return new AttachmentBuilder(Buffer.from(data), { name: `xcot-${job.id}-${candidate.seed}.${ext}` });
}

/** The result's text with the new candidate's seed and score line (the prompt and timings stay). */
function swappedContent(content: string, group: CandidateGroupRecord, candidate: { drawn: number; seed: number }): string {
  const lines = content.split('\n');
  const at = lines.findIndex((l) => l.startsWith('Candidate '));
  if (at >= 0) lines[at] = candidateLine(group, candidate.drawn);
  const stats = lines.findIndex((l) => l.startsWith('Seed '));
  if (stats >= 0) lines[stats] = lines[stats].replace(/^Seed \d+/, `Seed ${candidate.seed}`);
  return lines.join('\n');
}
