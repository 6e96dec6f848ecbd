import type { Message, MessageCreateOptions, SendableChannels } from 'discord.js';
import type { StatusMessage } from './status-message.ts';

/**
 * A status in a message of the bot's own, made on the first edit: a reply to `answering` (a message
 * the bot cannot edit, an interaction reply whose token is gone), or a new message in `channel`
 * without one; edited from then on.
 */
export function replyStatus(channel: SendableChannels, answering: Message | null): StatusMessage {
  let own: Promise<Message> | undefined;
  return {
    message: answering ?? undefined,
    edit: async (payload) => {
      if (own) return (await own).edit(payload);
      const create = { ...(payload as MessageCreateOptions), allowedMentions: { parse: [], repliedUser: false } };
      own = answering ? answering.reply(create) : channel.send(create);
      own.catch(() => (own = undefined));
      return own;
    },
  };
}
