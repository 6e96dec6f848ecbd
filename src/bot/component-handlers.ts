import {
  FileUploadBuilder,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  TextInputBuilder,
  TextInputStyle,
  type ButtonInteraction,
  type ModalSubmitInteraction,
  type SendableChannels,
} from 'discord.js';
import { InputError } from '../errors.ts';
import { SUBJECT_CONTEXT_MAX_CHARS, SUBJECT_NAME_MAX_CHARS } from '../store/subject-store.ts';
import type { JobRecord } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';
import { answerStaleQuestion } from './confirm-gate.ts';
import { customId, parseCustomId, type Action } from './custom-ids.ts';
import { deleteResult } from './delete-result.ts';
import { interactionStatus } from './deliver.ts';
import { followUpImages, followUpJob, type FollowUp } from './follow-up-jobs.ts';
import { reasoningEmbed, type StatusMessage } from './job-flow.ts';
import { postAgain } from './post-again.ts';
import { INTERNAL_ERROR_MESSAGE, userMessage } from './reply-errors.ts';
import { safeText } from '../util/safe-text.ts';
import type { BotDeps } from './bot-deps.ts';
import { startJob } from './start-job.ts';

const OWNER_ONLY: Action[] = ['regen', 'vary', 'save', 'cancel', 'refine', 'save-modal', 'refine-modal'];

/**
 * Buttons and modals on bot messages. Everything needed is in the custom id and the job store, so
 * these work for messages sent before a restart.
 */
export async function handleComponent(interaction: ButtonInteraction | ModalSubmitInteraction, deps: BotDeps): Promise<void> {
  const parsed = parseCustomId(interaction.customId);
  if (!parsed) {
    if (interaction.isButton()) await answerStaleQuestion(interaction);
    return;
  }
  const job = await deps.stores.jobs.get(parsed.jobId);
  try {
    if (!job) throw new InputError('job_gone', 'That image is too old or was deleted; start again with /personalize.');
    if (job.deletedAt !== undefined && parsed.action !== 'delete') throw new InputError('job_deleted', 'That image was deleted; start again with /personalize.');
    if (OWNER_ONLY.includes(parsed.action) && interaction.user.id !== job.ownerId) {
      throw new InputError('not_owner', 'Only the person who made this image can do that.');
    }
    switch (parsed.action) {
      case 'cancel':
        return await cancel(interaction, deps, job);
      case 'delete':
        if (interaction.isButton()) await deleteResult(interaction, deps, job);
        return;
      case 'repost':
        if (interaction.isButton()) await postAgain(interaction, deps, job);
        return;
      case 'why':
        if (interaction.user.id !== job.ownerId && !(await getServerSettings(deps.stores, job.guildId)).tracePublic) {
          throw new InputError('trace_private', 'This server keeps the reasoning private: only the person who made the image can see it.');
        }
        await interaction.reply({ embeds: [reasoningEmbed(job.grounding ?? '')], flags: MessageFlags.Ephemeral });
        return;
      case 'regen':
        return await followUp(interaction, deps, job, { newSeed: true });
      case 'vary':
        return await followUp(interaction, deps, job, { newSeed: true, count: 4 });
      case 'save':
        if (interaction.isButton()) await interaction.showModal(saveModal(job));
        return;
      case 'refine':
        if (interaction.isButton()) await interaction.showModal(refineModal(job, deps.config.maxSubjectPhotos));
        return;
      case 'save-modal':
        return await saveSubject(interaction as ModalSubmitInteraction, deps, job);
      case 'refine-modal': {
        const modal = interaction as ModalSubmitInteraction;
        const files = modal.fields.getUploadedFiles('photos') ?? new Map();
        const photos = [...files.values()].map((a) => ({ url: a.url, name: a.name, size: a.size }));
        const prompt = modal.fields.getTextInputValue('prompt').trim();
        // Refused here, before the public reply, so only the user sees why.
        deps.textRules.check({ prompt });
        // Same prompt, same seed, same photos would only draw the same picture again.
        if (!prompt && !photos.length) throw new InputError('nothing_to_refine', 'Write what to change or add a photo to refine the image.');
        return await followUp(interaction, deps, job, { prompt, photos });
      }
    }
  } catch (err) {
    const content = userMessage(err, deps.logger, { customId: interaction.customId });
    // An ephemeral deferred reply (saving a subject) takes the answer; a public one never shows a refusal.
    if (interaction.deferred && interaction.ephemeral) await interaction.editReply({ content, components: [] }).catch(() => {});
    else await refuse(interaction, content);
  }
}

async function cancel(interaction: ButtonInteraction | ModalSubmitInteraction, deps: BotDeps, job: JobRecord): Promise<void> {
  let content: string;
  if (deps.queue.cancel(job.id, 'Cancelled by you.')) {
    content = 'Cancelled.';
  } else {
    // Not cancellable now. This process' own memory first: a job it cancelled a moment ago still has
    // status 'queued' or 'running' in the record (updated a little later), which is no sign of a restart.
    const state = deps.generation.stateOf(job.id);
    if (state === 'cancelled') content = 'Already cancelled.';
    else if (state) content = 'Already finished.';
    else {
      const record = (await deps.stores.jobs.get(job.id)) ?? job;
      if (record.status === 'queued' || record.status === 'running') {
        // Never queued by this process (left by one that crashed or restarted): the record is all that is left.
        await deps.stores.jobs.update(job.id, { status: 'cancelled' });
        content = 'That job was interrupted by a restart and is cancelled now; send it again if you still want it.';
      } else content = record.status === 'cancelled' ? 'Already cancelled.' : 'Already finished.';
    }
  }
  await interaction.reply({ content, flags: MessageFlags.Ephemeral });
}

/**
 * Reroll, variations and refinement: a new job, its status as a reply in the thread. Nothing public is
 * posted before the job is in the queue, so a refusal (a full queue, a cap, bad text) reaches only the
 * clicker, however fast the clicks come.
 */
async function followUp(interaction: ButtonInteraction | ModalSubmitInteraction, deps: BotDeps, parent: JobRecord, change: FollowUp): Promise<void> {
  if (change.photos?.length) {
    // Downloading photos can outlast the 3 s Discord gives a first answer: checked, then deferred first.
    await deps.queue.assertAccepts(parent.ownerId, parent.guildId);
    await deps.quota.check(parent.ownerId, parent.guildId, followUpImages(parent, change));
    await interaction.deferReply();
  }
  let job: JobRecord;
  try {
    job = await followUpJob(deps, parent, change);
  } catch (err) {
    await refuse(interaction, userMessage(err, deps.logger, { parent: parent.id }));
    return;
  }
  const channel = (interaction.channel ?? (await interaction.client.channels.fetch(interaction.channelId!))) as SendableChannels | null;
  // startJob submits synchronously and then edits the status: the public reply is made on that first
  // edit once the queue took the job; a refusal by the queue goes to the clicker alone.
  let opened: Promise<StatusMessage> | undefined;
  const status: StatusMessage = {
    edit: async (payload) => {
      if (deps.generation.stateOf(job.id) === undefined) {
        await refuse(interaction, typeof payload.content === 'string' ? payload.content : INTERNAL_ERROR_MESSAGE);
        return null;
      }
      opened ??= (async () => {
        if (!interaction.deferred && !interaction.replied) await interaction.deferReply();
        return interactionStatus(interaction, deps);
      })();
      return (await opened).edit(payload);
    },
  };
  await startJob(deps, job, status, { trace: false, sizeLimit: interaction.attachmentSizeLimit, channel: channel ?? undefined });
}

/** Answers only the clicker; a public placeholder (a reply deferred before a slow step) is removed. */
async function refuse(interaction: ButtonInteraction | ModalSubmitInteraction, content: string): Promise<void> {
  if (!interaction.deferred && !interaction.replied) {
    await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).catch(() => {});
    return;
  }
  if (!interaction.ephemeral) await interaction.deleteReply().catch(() => {});
  await interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).catch(() => {});
}

async function saveSubject(interaction: ModalSubmitInteraction, deps: BotDeps, job: JobRecord): Promise<void> {
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
}

function saveModal(job: JobRecord): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(customId('save-modal', job.id))
    .setTitle('Save this subject')
    .addLabelComponents(
      new LabelBuilder().setLabel('Name').setTextInputComponent(
        new TextInputBuilder().setCustomId('name').setStyle(TextInputStyle.Short).setMaxLength(SUBJECT_NAME_MAX_CHARS).setRequired(true).setValue((job.name ?? '').slice(0, SUBJECT_NAME_MAX_CHARS)),
      ),
      new LabelBuilder().setLabel('What else defines it (optional)').setTextInputComponent(
        new TextInputBuilder().setCustomId('context').setStyle(TextInputStyle.Paragraph).setMaxLength(SUBJECT_CONTEXT_MAX_CHARS).setRequired(false),
      ),
    );
}

function refineModal(job: JobRecord, maxPhotos: number): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(customId('refine-modal', job.id))
    .setTitle('Refine this image')
    .addLabelComponents(
      new LabelBuilder().setLabel('New prompt (empty keeps the last one)').setTextInputComponent(
        new TextInputBuilder().setCustomId('prompt').setStyle(TextInputStyle.Paragraph).setMaxLength(1000).setRequired(false),
      ),
      new LabelBuilder().setLabel('More photos of the subject (optional)').setFileUploadComponent(
        new FileUploadBuilder().setCustomId('photos').setMinValues(0).setMaxValues(maxPhotos).setRequired(false),
      ),
    );
}

