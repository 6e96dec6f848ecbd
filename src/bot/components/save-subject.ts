import { MessageFlags, type ModalBuilder } from 'discord.js';
import { InputError } from '../../errors.ts';
import type { JobRecord } from '../../store/index.ts';
import { SUBJECT_CONTEXT_MAX_CHARS, SUBJECT_NAME_MAX_CHARS } from '../../store/subject-names.ts';
import { safeText } from '../../util/safe-text.ts';
import { cutToChars } from '../../util/text-length.ts';
import { customId } from '../custom-ids.ts';
import type { ButtonAction, ModalAction } from './component-action.ts';
import { labelledModal } from './labelled-modal.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/** Save subject: opens the modal that names the subject. */
export const saveSubjectAction: ButtonAction = {
  action: 'save',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  async handle(interaction, _deps, job) {
    await interaction.showModal(saveModal(job));
  },
};

/** The Save subject modal: the job's photos become a stored subject of the owner's. */
export const saveSubjectModal: ModalAction = {
  action: 'save-modal',
  kind: 'modal',
  openedBy: 'save',
  requires: [notDeleted, ownerOnly],
  async handle(interaction, deps, job) {
    // Re-checking and storing up to four photos can take longer than the 3 s Discord gives a reply.
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    const name = interaction.fields.getTextInputValue('name');
    const context = interaction.fields.getTextInputValue('context') || undefined;
    deps.textRules.check({ name, context }, { required: ['name'] });
    const photos = [];
    for (const hash of job.photoHashes ?? []) {
      const bytes = await deps.stores.photos.getPhoto(hash);
      if (bytes) photos.push(bytes);
    }
    if (!photos.length) throw new InputError('photo_gone', 'The photos of this image are no longer stored.');
    const subject = await deps.stores.subjects.save({ ownerId: job.ownerId, guildId: job.guildId, name, photos, context: context ?? job.context });
    await interaction.editReply({
      content: `Saved as “${safeText(subject.name)}”. Use it with /personalize subject:${safeText(subject.name)}, or share it with /subject share.`,
      allowedMentions: { parse: [] },
    });
  },
};

function saveModal(job: JobRecord): ModalBuilder {
  return labelledModal(customId('save-modal', job.id), 'Save this subject', [
    { kind: 'text', id: 'name', label: 'Name', style: 'short', maxLength: SUBJECT_NAME_MAX_CHARS, required: true, value: cutToChars(job.name ?? '', SUBJECT_NAME_MAX_CHARS) },
    { kind: 'text', id: 'context', label: 'What else defines it (optional)', style: 'paragraph', maxLength: SUBJECT_CONTEXT_MAX_CHARS, required: false },
  ]);
}
