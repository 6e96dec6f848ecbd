import type { EmulatorCore } from './core.ts';
import type { JsonObject } from './state.ts';

/**
 * Users' unicode-emoji reactions on messages, dispatched as Discord's gateway does
 * (MESSAGE_REACTION_ADD / MESSAGE_REACTION_REMOVE, intent GUILD_MESSAGE_REACTIONS). Adding a
 * reaction a user already made, or removing one they did not, dispatches nothing, like Discord.
 */
export class ReactionService {
  private readonly byMessage = new Map<string, Map<string, Set<string>>>();

  constructor(private readonly core: EmulatorCore) {}

  add(messageId: string, userId: string, emoji: string): boolean {
    const { message, users } = this.target(messageId, emoji);
    const member = this.core.state.member(message.guildId, userId);
    if (users.has(userId)) return false;
    users.add(userId);
    this.core.gateway.dispatch('MESSAGE_REACTION_ADD', {
      ...this.base(message, userId, emoji),
      member: this.core.renderer.member(member),
      message_author_id: message.authorId,
    });
    return true;
  }

  remove(messageId: string, userId: string, emoji: string): boolean {
    const { message, users } = this.target(messageId, emoji);
    if (!users.delete(userId)) return false;
    this.core.gateway.dispatch('MESSAGE_REACTION_REMOVE', this.base(message, userId, emoji));
    return true;
  }

  private target(messageId: string, emoji: string) {
    const message = this.core.state.messages.get(messageId);
    if (!message) throw new Error(`Unknown message ${messageId}`);
    const emojis = this.byMessage.get(messageId) ?? new Map<string, Set<string>>();
    this.byMessage.set(messageId, emojis);
    const users = emojis.get(emoji) ?? new Set<string>();
    emojis.set(emoji, users);
    return { message, users };
  }

  private base(message: { id: string; channelId: string; guildId: string }, userId: string, emoji: string): JsonObject {
    return {
      user_id: userId,
      channel_id: message.channelId,
      message_id: message.id,
      guild_id: message.guildId,
      emoji: { id: null, name: emoji },
      burst: false,
      type: 0,
    };
  }
}
