import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type StringSelectMenuBuilder } from 'discord.js';
import type { JobRecord } from '../../store/index.ts';
import { customId, upscaleId } from '../custom-ids.ts';
import { candidateMenu, keepButton, type CandidateView } from './candidate-view.ts';

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
  const owner = deleteRow(job.id);
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

/** The Delete button's row (an upscaled image has only this one). */
export function deleteRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('delete', jobId)).setLabel('Delete').setStyle(ButtonStyle.Danger),
  );
}
