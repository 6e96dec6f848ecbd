/** Who reacted with what, kept by the sandbox so the page can show reactions as Discord does (the emulator only dispatches them). */
export class ReactionBoard {
  private readonly byMessage = new Map<string, Map<string, Set<string>>>();

  /** Adds the member's reaction, or takes it back when they had made it; true when it was added. */
  toggle(messageId: string, userId: string, emoji: string): boolean {
    const emojis = this.byMessage.get(messageId) ?? new Map<string, Set<string>>();
    this.byMessage.set(messageId, emojis);
    const users = emojis.get(emoji) ?? new Set<string>();
    emojis.set(emoji, users);
    if (users.delete(userId)) return false;
    users.add(userId);
    return true;
  }

  /** A message's `reactions` in Discord's shape, `me` as seen by `viewer`. */
  decorate<M extends { id: string }>(message: M, viewer: string): M & { reactions?: { count: number; me: boolean; emoji: { id: null; name: string } }[] } {
    const reactions = [...(this.byMessage.get(message.id) ?? new Map<string, Set<string>>())]
      .filter(([, users]) => users.size > 0)
      .map(([name, users]) => ({ count: users.size, me: users.has(viewer), emoji: { id: null, name } }));
    return reactions.length > 0 ? { ...message, reactions } : message;
  }
}
