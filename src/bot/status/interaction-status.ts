import type { ChatInputCommandInteraction, Message, MessageComponentInteraction, MessageCreateOptions, MessageEditOptions, ModalSubmitInteraction } from 'discord.js';
import type { StatusMessage } from './status-message.ts';

/** Interaction tokens last 15 minutes; after 14 the bot stops using them. */
const TOKEN_SAFE_MS = 14 * 60_000;

type RepliedInteraction = ChatInputCommandInteraction | MessageComponentInteraction | ModalSubmitInteraction;

/**
 * The interaction's (already deferred or sent) reply as a StatusMessage, edited through the
 * interaction token while it is valid. A bot cannot edit an interaction reply with its own token (it
 * is a webhook message), so once the token is about to expire the status goes on in a message of the
 * bot's own, a reply to the first one, created on the first late edit. `clock.now`: the bot's clock.
 */
export async function interactionStatus(interaction: RepliedInteraction, clock: { now(): number }): Promise<StatusMessage & { message: Message }> {
  const message = await interaction.fetchReply();
  const started = interaction.createdTimestamp;
  let own: Promise<Message> | undefined;
  return {
    message,
    edit: async (payload: MessageEditOptions) => {
      if (clock.now() - started < TOKEN_SAFE_MS) return interaction.editReply(payload);
      if (own) return (await own).edit(payload);
      own = message.reply({ ...(payload as MessageCreateOptions), allowedMentions: { parse: [], repliedUser: false } });
      own.catch(() => (own = undefined));
      return own;
    },
  };
}
