import type { ModalBuilder } from 'discord.js';
import { InputError } from '../../errors.ts';
import type { JobRecord } from '../../store/index.ts';
import { customId } from '../custom-ids.ts';
import type { ButtonAction, ModalAction } from './component-action.ts';
import { followUpReply } from './follow-up-reply.ts';
import { labelledModal } from './labelled-modal.ts';
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

/** The Refine modal's request field holds at most this many characters. */
const PROMPT_MAX_CHARS = 1000;

function refineModal(job: JobRecord, maxPhotos: number): ModalBuilder {
  return labelledModal(customId('refine-modal', job.id), 'Refine this image', [
    {
      kind: 'text',
      id: 'prompt',
      label: 'The request (edit it; empty keeps it)',
      style: 'paragraph',
      maxLength: PROMPT_MAX_CHARS,
      required: false,
      // Opens with the request as it stands, to edit rather than retype.
      value: job.prompt.length <= PROMPT_MAX_CHARS ? job.prompt : undefined,
    },
    { kind: 'files', id: PHOTOS_FIELD, label: 'More photos of the subject (optional)', maxFiles: maxPhotos },
  ]);
}
