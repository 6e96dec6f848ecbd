import { AttachmentBuilder, MessageFlags, type ButtonInteraction, type StringSelectMenuInteraction } from 'discord.js';
import { InputError } from '../../errors.ts';
import { reencodeToFit } from '../../images/encode.ts';
import { loadImage } from '../../images/load.ts';
import type { CandidateGroupRecord, JobRecord } from '../../store/index.ts';
import type { BotDeps } from '../bot-deps.ts';
import { candidateLine } from '../delivery/candidate-view.ts';
import { resultButtons } from '../delivery/result-buttons.ts';
import { resultFilePrefix } from '../delivery/result-files.ts';
import { upscaleFactor } from '../delivery/upscale-factor.ts';
import { recordSignal } from '../feedback-signals.ts';
import type { ButtonAction, SelectAction } from './component-action.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/**
 * The candidate menu under a group's result. The owner's choice swaps the shown image (an edit of the
 * result's attachment) and is their pick; anyone else sees the candidate alone. Everything comes from
 * the store, so this works after a restart.
 */
export const pickCandidateAction: SelectAction = {
  action: 'pick',
  kind: 'select',
  requires: [notDeleted],
  handle: async (interaction, deps, job) => choose(interaction, deps, job, await candidateGroup(deps, job)),
};

/** Keep this one: the owner's pick of the candidate shown. */
export const keepCandidateAction: ButtonAction = {
  action: 'keep',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  handle: async (interaction, deps, job) => keep(interaction, deps, job, await candidateGroup(deps, job)),
};

async function candidateGroup(deps: BotDeps, job: JobRecord): Promise<CandidateGroupRecord> {
  const group = await deps.stores.candidates.get(job.id);
  if (!group) throw new InputError('candidates_gone', 'The other candidates of this image are no longer kept.');
  return group;
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
    components: resultButtons(job, { view: group, shown: candidate.drawn }, { upscale: await upscaleFactor(deps, job.guildId) }),
    allowedMentions: { parse: [] },
  });
  await deps.stores.candidates.setShown(job.id, candidate.drawn);
  await recordSignal(deps, job, interaction.user.id, { kind: 'pick', drawn: candidate.drawn });
}

async function keep(interaction: ButtonInteraction, deps: BotDeps, job: JobRecord, group: CandidateGroupRecord): Promise<void> {
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
  return new AttachmentBuilder(Buffer.from(data), { name: `${resultFilePrefix(job.id)}${candidate.seed}.${ext}` });
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
