import { FileUploadBuilder, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';
import { InputError } from '../../errors.ts';
import type { JobRecord } from '../../store/index.ts';
import { customId } from '../custom-ids.ts';
import type { ButtonAction, ModalAction } from './component-action.ts';
import { followUpReply } from './follow-up-reply.ts';
import { consentForUploads, notDeleted, ownerOnly } from './preconditions.ts';

/** The Refine modal's file upload field. */
const PHOTOS_FIELD = 'photos';

/** Refine: opens the modal for a new prompt and more photos. */
export const refineAction: ButtonAction = {
  action: 'refine',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  async handle(interaction, deps, job) {
    await interaction.showModal(refineModal(job, deps.config.maxSubjectPhotos));
  },
};

/** The Refine modal: a follow-up job with the new prompt (none keeps the last) and photos. */
export const refineModalAction: ModalAction = {
  action: 'refine-modal',
  kind: 'modal',
  openedBy: 'refine',
  requires: [notDeleted, ownerOnly, consentForUploads(PHOTOS_FIELD)],
  async handle(interaction, deps, job) {
    const files = interaction.fields.getUploadedFiles(PHOTOS_FIELD) ?? new Map();
    const photos = [...files.values()].map((a) => ({ url: a.url, name: a.name, size: a.size }));
    const prompt = interaction.fields.getTextInputValue('prompt').trim();
    // Refused here, before the public reply, so only the user sees why.
    deps.textRules.check({ prompt });
    // Same prompt, same seed, same photos would only draw the same picture again.
    if (!prompt && !photos.length) throw new InputError('nothing_to_refine', 'Write what to change or add a photo to refine the image.');
    await followUpReply(interaction, deps, job, { prompt, photos });
  },
};

function refineModal(job: JobRecord, maxPhotos: number): ModalBuilder {
  const request = new TextInputBuilder().setCustomId('prompt').setStyle(TextInputStyle.Paragraph).setMaxLength(1000).setRequired(false);
  // Opens with the request as it stands, to edit rather than retype.
  if (job.prompt.length <= 1000) request.setValue(job.prompt);
  return new ModalBuilder()
    .setCustomId(customId('refine-modal', job.id))
    .setTitle('Refine this image')
    .addLabelComponents(
      new LabelBuilder().setLabel('The request (edit it; empty keeps it)').setTextInputComponent(request),
      new LabelBuilder().setLabel('More photos of the subject (optional)').setFileUploadComponent(
        new FileUploadBuilder().setCustomId(PHOTOS_FIELD).setMinValues(0).setMaxValues(maxPhotos).setRequired(false),
      ),
    );
}
