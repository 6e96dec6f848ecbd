import { MessageFlags } from 'discord.js';
import { reasoningEmbed } from '../delivery/reasoning-embed.ts';
import type { ButtonAction } from './component-action.ts';
import { notDeleted, ownerOrPublicTrace } from './preconditions.ts';

/** Show reasoning: the grounding text, to the clicker alone. */
export const showReasoningAction: ButtonAction = {
  action: 'why',
  kind: 'button',
  requires: [notDeleted, ownerOrPublicTrace],
  async handle(interaction, _deps, job) {
    await interaction.reply({ embeds: [reasoningEmbed(job.grounding ?? '')], flags: MessageFlags.Ephemeral });
  },
};
