import type { Clock } from './clock.ts';
import { errors } from './errors.ts';
import { DEFAULT_MEMBER_PERMISSIONS, Permission } from './permissions.ts';
import type { SnowflakeFactory } from './snowflake.ts';

export type JsonObject = Record<string, unknown>;

export const ChannelType = {
  GuildText: 0,
  GuildAnnouncement: 5,
  AnnouncementThread: 10,
  PublicThread: 11,
  PrivateThread: 12,
} as const;
export const DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024;

export interface UserRecord {
  id: string;
  username: string;
  globalName: string | null;
  bot: boolean;
}

export interface RoleRecord {
  id: string;
  name: string;
  permissions: bigint;
  position: number;
  managed: boolean;
}

export interface MemberRecord {
  userId: string;
  roleIds: string[];
  joinedAt: string;
  nick: string | null;
}

export interface GuildRecord {
  id: string;
  name: string;
  ownerId: string;
  roles: Map<string, RoleRecord>;
  members: Map<string, MemberRecord>;
  attachmentSizeLimit: number;
}

export interface ThreadMeta {
  ownerId: string;
  archived: boolean;
  locked: boolean;
  autoArchiveDuration: number;
  archiveTimestamp: string;
  createTimestamp: string;
  memberIds: Set<string>;
  messageCount: number;
  totalMessageSent: number;
  invitable: boolean;
}

export interface ChannelRecord {
  id: string;
  guildId: string;
  type: number;
  name: string;
  parentId: string | null;
  position: number;
  topic: string | null;
  lastMessageId: string | null;
  thread?: ThreadMeta;
}

export interface FileRecord {
  id: string;
  channelId: string;
  filename: string;
  contentType: string;
  bytes: Buffer;
  width?: number;
  height?: number;
  description?: string;
  /** Files attached to slash commands/modals are ephemeral until posted. */
  ephemeral: boolean;
  /** A URL off Discord's CDN (a forged or proxied attachment); rendered instead of the signed CDN URL. */
  externalUrl?: string;
}

export interface MessageRecord {
  id: string;
  channelId: string;
  guildId: string;
  authorId: string;
  type: number;
  content: string;
  embeds: JsonObject[];
  components: JsonObject[];
  attachmentIds: string[];
  flags: number;
  timestamp: string;
  editedTimestamp: string | null;
  tts: boolean;
  mentionUserIds: string[];
  webhookId?: string;
  applicationId?: string;
  interactionMetadata?: JsonObject;
  messageReference?: { message_id: string; channel_id: string; guild_id: string };
  threadId?: string;
}

export interface ThreadInput {
  id?: string;
  name: string;
  type: number;
  ownerId: string;
  autoArchiveDuration: number;
  invitable?: boolean;
}

export interface MemberOptions {
  username?: string;
  permissions?: bigint;
  bot?: boolean;
}

/** Everything the emulated Discord knows. Lookups throw the Discord error a real lookup would. */
export class EmulatorState {
  readonly users = new Map<string, UserRecord>();
  readonly guilds = new Map<string, GuildRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly messages = new Map<string, MessageRecord>();
  readonly files = new Map<string, FileRecord>();
  /** Registered commands by scope: "global" or a guild id. */
  readonly commands = new Map<string, JsonObject[]>();

  constructor(
    readonly ids: SnowflakeFactory,
    readonly clock: Clock,
    readonly applicationId: string,
    readonly botUserId: string,
    botUsername: string,
  ) {
    this.users.set(botUserId, { id: botUserId, username: botUsername, globalName: null, bot: true });
  }

  isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }

  ensureUser(id: string, username = `user${id.slice(-4)}`, bot = false): UserRecord {
    let user = this.users.get(id);
    if (!user) {
      user = { id, username, globalName: null, bot };
      this.users.set(id, user);
    }
    return user;
  }

  createGuild(input: { id?: string; name?: string; attachmentSizeLimit?: number; botPermissions?: bigint }): GuildRecord {
    const id = input.id ?? this.ids.next();
    const owner = this.ensureUser(this.ids.next(), 'guild-owner');
    const everyone: RoleRecord = { id, name: '@everyone', permissions: 0n, position: 0, managed: false };
    const guild: GuildRecord = {
      id,
      name: input.name ?? `Guild ${id}`,
      ownerId: owner.id,
      roles: new Map([[id, everyone]]),
      members: new Map(),
      attachmentSizeLimit: input.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_SIZE_LIMIT,
    };
    this.guilds.set(id, guild);
    this.joinGuild(guild, owner.id, Permission.Administrator, false);
    this.joinGuild(guild, this.botUserId, input.botPermissions ?? DEFAULT_MEMBER_PERMISSIONS, true);
    return guild;
  }

  /** Each member gets a personal role carrying exactly its permissions, so tests control them precisely. */
  addMember(guildId: string, userId: string, options: MemberOptions = {}): MemberRecord {
    const guild = this.guild(guildId);
    this.ensureUser(userId, options.username, options.bot ?? false);
    return this.joinGuild(guild, userId, options.permissions ?? DEFAULT_MEMBER_PERMISSIONS, false);
  }

  private joinGuild(guild: GuildRecord, userId: string, permissions: bigint, managed: boolean): MemberRecord {
    const role: RoleRecord = {
      id: this.ids.next(),
      name: managed ? this.user(userId).username : `perms-${userId}`,
      permissions,
      position: guild.roles.size,
      managed,
    };
    guild.roles.set(role.id, role);
    const member: MemberRecord = { userId, roleIds: [role.id], joinedAt: this.isoNow(), nick: null };
    guild.members.set(userId, member);
    return member;
  }

  createChannel(guildId: string, input: { id?: string; name?: string; type?: number; topic?: string }): ChannelRecord {
    const guild = this.guild(guildId);
    const id = input.id ?? this.ids.next();
    const channel: ChannelRecord = {
      id,
      guildId: guild.id,
      type: input.type ?? ChannelType.GuildText,
      name: input.name ?? `channel-${id.slice(-4)}`,
      parentId: null,
      position: [...this.channels.values()].filter((c) => c.guildId === guildId && !c.thread).length,
      topic: input.topic ?? null,
      lastMessageId: null,
    };
    this.channels.set(id, channel);
    return channel;
  }

  createThread(parent: ChannelRecord, input: ThreadInput): ChannelRecord {
    const now = this.isoNow();
    const thread: ChannelRecord = {
      id: input.id ?? this.ids.next(),
      guildId: parent.guildId,
      type: input.type,
      name: input.name,
      parentId: parent.id,
      position: 0,
      topic: null,
      lastMessageId: null,
      thread: {
        ownerId: input.ownerId,
        archived: false,
        locked: false,
        autoArchiveDuration: input.autoArchiveDuration,
        archiveTimestamp: now,
        createTimestamp: now,
        memberIds: new Set([input.ownerId]),
        messageCount: 0,
        totalMessageSent: 0,
        invitable: input.invitable ?? true,
      },
    };
    this.channels.set(thread.id, thread);
    return thread;
  }

  storeMessage(message: MessageRecord): void {
    this.messages.set(message.id, message);
    const channel = this.channel(message.channelId);
    channel.lastMessageId = message.id;
    if (channel.thread) {
      channel.thread.messageCount += 1;
      channel.thread.totalMessageSent += 1;
    }
  }

  user(id: string): UserRecord {
    const user = this.users.get(id);
    if (!user) throw errors.unknownUser();
    return user;
  }

  guild(id: string): GuildRecord {
    const guild = this.guilds.get(id);
    if (!guild) throw errors.unknownGuild();
    return guild;
  }

  channel(id: string): ChannelRecord {
    const channel = this.channels.get(id);
    if (!channel) throw errors.unknownChannel();
    return channel;
  }

  member(guildId: string, userId: string): MemberRecord {
    const member = this.guild(guildId).members.get(userId);
    if (!member) throw errors.unknownMember();
    return member;
  }

  message(channelId: string, messageId: string): MessageRecord {
    const message = this.messages.get(messageId);
    if (!message || message.channelId !== channelId) throw errors.unknownMessage();
    return message;
  }

  channelMessages(channelId: string): MessageRecord[] {
    return [...this.messages.values()].filter((m) => m.channelId === channelId);
  }

  threadsOf(guildId: string): ChannelRecord[] {
    return [...this.channels.values()].filter((c) => c.guildId === guildId && c.thread);
  }

  /** Guild-level permissions; no channel overwrites are modelled. */
  permissions(guildId: string, userId: string): bigint {
    const guild = this.guild(guildId);
    if (guild.ownerId === userId) return ~0n & ((1n << 53n) - 1n);
    const member = this.member(guildId, userId);
    let bits = guild.roles.get(guild.id)?.permissions ?? 0n;
    for (const roleId of member.roleIds) bits |= guild.roles.get(roleId)?.permissions ?? 0n;
    return bits;
  }
}
