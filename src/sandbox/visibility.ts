const EPHEMERAL = 1 << 6;

interface SeenMessage {
  flags?: number;
  interaction_metadata?: { user?: { id?: string } } | null;
}

/** As in Discord: an ephemeral message is shown only to the member whose interaction it answers. */
export function visibleTo(message: SeenMessage, viewerId: string): boolean {
  if (((message.flags ?? 0) & EPHEMERAL) === 0) return true;
  return message.interaction_metadata?.user?.id === viewerId;
}
