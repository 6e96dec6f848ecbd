import { InputError } from '../../errors.ts';
import { checkAdmission } from '../../jobs/admission/admit.ts';
import { parseCustomId } from '../custom-ids.ts';
import { upscaleFactor } from '../delivery/upscale-factor.ts';
import { upscaleJob } from '../upscale-job.ts';
import type { ButtonAction, Precondition } from './component-action.ts';
import { followUpReply } from './follow-up-reply.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/** An upscaler is loaded, the server has not turned the button off, and the image is not an upscale itself. */
const upscaleAllowed: Precondition = {
  name: 'upscale allowed',
  async check(_interaction, deps, job) {
    if (!deps.upscale) throw new InputError('upscale_off', 'Upscaling is not available on this bot.');
    if ((await upscaleFactor(deps, job.guildId)) === undefined) throw new InputError('upscale_off', 'This server turned upscaling off.');
    if (job.upscale) throw new InputError('invalid_option', 'That image is already upscaled.');
  },
};

/**
 * Upscale ×N under a result: image `index` of the message, as posted (the candidate shown, for a
 * group), becomes an upscale job of its own, queued and posted in the thread like a follow-up.
 */
export const upscaleAction: ButtonAction = {
  action: 'upscale',
  kind: 'button',
  requires: [notDeleted, ownerOnly, upscaleAllowed],
  handle: async (interaction, deps, job) => {
    const index = parseCustomId(interaction.customId)?.index ?? 0;
    const attachment = [...interaction.message.attachments.values()][index];
    const image = attachment ? { url: attachment.url, name: attachment.name, size: attachment.size } : undefined;
    // Refusals before the public reply (a full queue, the quota) reach only the clicker.
    await checkAdmission(deps, { userId: job.ownerId, guildId: job.guildId, images: 1 });
    // Downloading the image can outlast the 3 s Discord gives a first answer.
    await interaction.deferReply();
    await followUpReply(interaction, deps, job, () => upscaleJob(deps, job, image, index));
  },
};
