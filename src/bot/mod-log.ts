import type { Interaction } from 'discord.js';
import { safeText } from '../util/safe-text.ts';
import type { BotDeps } from './bot-deps.ts';
import { fitLines } from './message-fit.ts';

/** Who acted, where: any interaction in a server. */
type Actor = Pick<Interaction, 'client' | 'user' | 'guildId'>;

/**
 * Posts who changed what to the server's mod-log channel: settings, or a moderator's action on a
 * member's subject or image. Never pings (mentions render, nobody is notified). Resolves with a note
 * for the admin when it could not be posted, else null.
 */
export async function postModLog(
  interaction: Actor,
  deps: BotDeps,
  channelId: string | null,
  changes: string[],
  title = 'Bot settings changed',
): Promise<string | null> {
  if (!channelId || changes.length === 0) return null;
  const head = `**${title}** by <@${interaction.user.id}> (${safeText(interaction.user.username)}):`;
  const content = fitLines([head, ...changes.map((line) => `• ${line}`)]);
  try {
    const channel = await interaction.client.channels.fetch(channelId);
    if (!channel || !('guildId' in channel) || channel.guildId !== interaction.guildId || !channel.isSendable()) {
      return `The mod log channel <#${channelId}> cannot be used; set another with \`/settings modlog\`.`;
    }
    await channel.send({ content, allowedMentions: { parse: [] } });
    return null;
  } catch (err) {
    deps.logger.warn({ err, guild: interaction.guildId, channel: channelId }, 'mod log post failed');
    return `Could not post to the mod log <#${channelId}> (does the bot have Send Messages there?).`;
  }
}
