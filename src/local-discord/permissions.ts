/** The permission bits the emulator checks (values from Discord's docs). */
export const Permission = {
  CreateInstantInvite: 1n << 0n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  UseExternalEmojis: 1n << 18n,
  UseApplicationCommands: 1n << 31n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  CreatePrivateThreads: 1n << 36n,
  SendMessagesInThreads: 1n << 38n,
} as const;

/** What a regular member of a fresh guild may do. */
export const DEFAULT_MEMBER_PERMISSIONS =
  Permission.CreateInstantInvite |
  Permission.AddReactions |
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.EmbedLinks |
  Permission.AttachFiles |
  Permission.ReadMessageHistory |
  Permission.UseExternalEmojis |
  Permission.UseApplicationCommands |
  Permission.CreatePublicThreads |
  Permission.CreatePrivateThreads |
  Permission.SendMessagesInThreads;

export function hasPermission(granted: bigint, needed: bigint): boolean {
  if ((granted & Permission.Administrator) !== 0n) return true;
  return (granted & needed) === needed;
}

/**
 * Whether a member sees a command with these default member permissions in the command picker:
 * no value means everyone, "0" means administrators only, otherwise every bit of it.
 */
export function maySeeCommand(granted: bigint, defaultMemberPermissions: unknown): boolean {
  if (typeof defaultMemberPermissions !== 'string') return true;
  const needed = BigInt(defaultMemberPermissions);
  if (needed === 0n) return (granted & Permission.Administrator) !== 0n;
  return hasPermission(granted, needed);
}
