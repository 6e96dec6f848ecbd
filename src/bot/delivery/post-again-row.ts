import { ActionRowBuilder, ButtonBuilder, ButtonStyle } from 'discord.js';
import { customId } from '../custom-ids.ts';

/** Under a status that says the image is kept: the user need not wait for the bot's own next try. */
export function postAgainRow(jobId: string): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(customId('repost', jobId)).setLabel('Post again').setStyle(ButtonStyle.Primary),
  );
}
