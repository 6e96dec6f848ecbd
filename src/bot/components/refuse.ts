import { MessageFlags } from 'discord.js';
import type { ComponentInteraction } from './component-action.ts';

const NO_MENTIONS = { parse: [] as [] };

/**
 * Answers only the clicker. An ephemeral deferred reply takes the answer; a public placeholder (a
 * reply deferred before a slow step) is removed; a message the component updated stays.
 */
export async function refuse(interaction: ComponentInteraction, content: string): Promise<void> {
  if (!interaction.deferred && !interaction.replied) {
    await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS }).catch(() => {});
    return;
  }
  if (interaction.deferred && interaction.ephemeral) {
    await interaction.editReply({ content, components: [], allowedMentions: NO_MENTIONS }).catch(() => {});
    return;
  }
  if (interaction.deferred) await interaction.deleteReply().catch(() => {});
  await interaction.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS }).catch(() => {});
}
