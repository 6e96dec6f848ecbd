import { DiscordAPIError, MessageFlags, RESTJSONErrorCodes, Routes, type ButtonInteraction } from 'discord.js';
import type { JobRecord } from '../../store/index.ts';
import { getServerSettings } from '../../store/server-settings.ts';
import type { BotDeps } from '../bot-deps.ts';
import { postModLog } from '../mod-log.ts';
import type { ButtonAction } from './component-action.ts';
import { ownerOrModerator } from './preconditions.ts';

/**
 * The Delete button under a result: its owner, or a member who may manage messages or the server,
 * removes the result message (the one carrying the button). The job record keeps a note that it was
 * deleted and lets go of the photos uploaded for it; anyone else is refused, privately. A moderator's
 * delete of someone else's image is posted to the server's mod log.
 *
 * The thread the result may sit in, and the reply it was started from, are left as they are: the
 * reply says only that the image is in the thread, and the thread may hold other members' messages
 * and later images. A deleted job's button answers "Already deleted.".
 */
export const deleteResultAction: ButtonAction = {
  action: 'delete',
  kind: 'button',
  requires: [ownerOrModerator],
  handle: deleteResult,
};

async function deleteResult(interaction: ButtonInteraction, deps: BotDeps, job: JobRecord): Promise<void> {
  const owner = interaction.user.id === job.ownerId;
  // A click that comes while another is deleting, or after it, asks Discord nothing.
  if (deleting.has(job.id)) {
    await interaction.reply({ content: 'Already deleted.', flags: MessageFlags.Ephemeral });
    return;
  }
  deleting.add(job.id);
  try {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    if ((await deps.stores.jobs.get(job.id))?.deletedAt !== undefined) {
      await interaction.editReply({ content: 'Already deleted.' });
      return;
    }
    try {
      // With the bot's token: the result may be an interaction reply whose token has long expired.
      await interaction.client.rest.delete(Routes.channelMessage(interaction.channelId, interaction.message.id));
    } catch (err) {
      // Deleted by hand in Discord, or by another process of the bot.
      if (!(err instanceof DiscordAPIError && err.code === RESTJSONErrorCodes.UnknownMessage)) throw err;
    }
    await deps.stores.jobs.markDeleted(job.id, owner ? 'owner' : 'moderator');
    // A member's image removed by someone else is never silent: the server's mod log says who and whose.
    const note = owner
      ? null
      : await postModLog(interaction, deps, (await getServerSettings(deps.stores, interaction.guildId)).modLogChannel, [
          `Deleted an image by <@${job.ownerId}> in <#${interaction.channelId}>`,
        ], 'Moderator action');
    await interaction.editReply({ content: note ? `Deleted.\n${note}` : 'Deleted.' });
  } finally {
    deleting.delete(job.id);
  }
}

const deleting = new Set<string>();
