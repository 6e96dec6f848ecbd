import { PermissionFlagsBits } from 'discord.js';
import { InputError } from '../../errors.ts';
import { getServerSettings } from '../../store/server-settings.ts';
import { assertPhotoConsent } from '../photo-consent.ts';
import type { Precondition } from './component-action.ts';

/** The job's record is not marked deleted. */
export const notDeleted: Precondition = {
  name: 'not deleted',
  check(_interaction, _deps, job) {
    if (job.deletedAt !== undefined) throw new InputError('job_deleted', 'That image was deleted; start again with /personalize.');
  },
};

/** Only the member who made the image. */
export const ownerOnly: Precondition = {
  name: 'owner only',
  check(interaction, _deps, job) {
    if (interaction.user.id !== job.ownerId) throw new InputError('not_owner', 'Only the person who made this image can do that.');
  },
};

/** The member who made the image, or one who may manage messages or the server here. */
export const ownerOrModerator: Precondition = {
  name: 'owner or moderator',
  check(interaction, _deps, job) {
    if (interaction.user.id === job.ownerId) return;
    if (interaction.inGuild() && interaction.memberPermissions.any([PermissionFlagsBits.ManageMessages, PermissionFlagsBits.ManageGuild])) return;
    throw new InputError('not_owner', 'Only the person who made this image, or someone who can manage messages here, can delete it.');
  },
};

/** The member who made the image, or anyone where the server shows reasoning to all. */
export const ownerOrPublicTrace: Precondition = {
  name: 'owner, or anyone where reasoning is public',
  async check(interaction, deps, job) {
    if (interaction.user.id === job.ownerId) return;
    if ((await getServerSettings(deps.stores, job.guildId)).tracePublic) return;
    throw new InputError('trace_private', 'This server keeps the reasoning private: only the person who made the image can see it.');
  },
};

/**
 * Photos uploaded in the modal's `field` need the job owner's consent where the server asks for it
 * (none uploaded: nothing to check). A modal has no place to ask, so the owner is sent to /personalize.
 */
export function consentForUploads(field: string): Precondition {
  return {
    name: 'consent for uploaded photos',
    async check(interaction, deps, job) {
      if (!interaction.isModalSubmit() || !interaction.fields.getUploadedFiles(field)?.size) return;
      await assertPhotoConsent(deps, job.ownerId, await getServerSettings(deps.stores, job.guildId));
    },
  };
}
