import type { ButtonInteraction, ModalSubmitInteraction, SendableChannels } from 'discord.js';
import { checkAdmission, type AdmittedJob } from '../../jobs/admission/admit.ts';
import type { JobRecord } from '../../store/index.ts';
import type { BotDeps } from '../bot-deps.ts';
import { followUpImages, followUpJob, type FollowUp } from '../follow-up-jobs.ts';
import { INTERNAL_ERROR_MESSAGE, userMessage } from '../reply-errors.ts';
import { startJob } from '../start-job.ts';
import { interactionStatus } from '../status/interaction-status.ts';
import type { StatusMessage } from '../status/status-message.ts';
import { refuse } from './refuse.ts';

/**
 * Reroll, variations, refinement and upscale (`change` makes the job): a new job, its status as a reply in the thread. Nothing public is
 * posted before the job is in the queue, so a refusal (a full queue, a cap, bad text) reaches only the
 * clicker, however fast the clicks come.
 */
export async function followUpReply(
  interaction: ButtonInteraction | ModalSubmitInteraction,
  deps: BotDeps,
  parent: JobRecord,
  change: FollowUp | (() => Promise<AdmittedJob>),
): Promise<void> {
  if (typeof change !== 'function' && change.photos?.length) {
    // Downloading photos can outlast the 3 s Discord gives a first answer: checked, then deferred first.
    await checkAdmission(deps, { userId: parent.ownerId, guildId: parent.guildId, images: followUpImages(parent, change) });
    await interaction.deferReply();
  }
  let admitted: AdmittedJob;
  try {
    admitted = typeof change === 'function' ? await change() : await followUpJob(deps, parent, change);
  } catch (err) {
    await refuse(interaction, userMessage(err, deps.logger, { parent: parent.id }));
    return;
  }
  const { job, ticket } = admitted;
  const channel = (interaction.channel ?? (await interaction.client.channels.fetch(interaction.channelId!))) as SendableChannels | null;
  // startJob submits synchronously and then edits the status: the public reply is made on that first
  // edit once the queue took the job; a refusal by the queue goes to the clicker alone.
  let opened: Promise<StatusMessage> | undefined;
  const status: StatusMessage = {
    edit: async (payload) => {
      if (deps.runner.stateOf(job.id) === undefined) {
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
  await startJob(deps, job, status, { ticket, trace: false, sizeLimit: interaction.attachmentSizeLimit, channel: channel ?? undefined });
}
