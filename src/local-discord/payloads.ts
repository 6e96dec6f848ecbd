import type { CdnServer } from './cdn.ts';
import type {
  ChannelRecord,
  EmulatorState,
  FileRecord,
  GuildRecord,
  JsonObject,
  MemberRecord,
  MessageRecord,
  RoleRecord,
  UserRecord,
} from './state.ts';

/** Builds complete Discord API objects (as JSON) from state records. */
export class Renderer {
  constructor(
    private readonly state: EmulatorState,
    private readonly cdn: CdnServer,
  ) {}

  user(user: UserRecord): JsonObject {
    return {
      id: user.id,
      username: user.username,
      global_name: user.globalName,
      discriminator: '0',
      avatar: null,
      public_flags: 0,
      flags: 0,
      ...(user.bot ? { bot: true } : {}),
      banner: null,
      accent_color: null,
      avatar_decoration_data: null,
      collectibles: null,
      primary_guild: null,
    };
  }

  /** GET /users/@me adds the private fields. */
  selfUser(): JsonObject {
    const bot = this.state.user(this.state.botUserId);
    return { ...this.user(bot), mfa_enabled: false, locale: 'en-US', verified: true, email: null };
  }

  role(role: RoleRecord): JsonObject {
    return {
      id: role.id,
      name: role.name,
      permissions: role.permissions.toString(),
      position: role.position,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      managed: role.managed,
      mentionable: false,
      icon: null,
      unicode_emoji: null,
      flags: 0,
      ...(role.managed ? { tags: { bot_id: this.state.botUserId } } : {}),
    };
  }

  member(member: MemberRecord): JsonObject {
    return {
      user: this.user(this.state.user(member.userId)),
      roles: member.roleIds,
      joined_at: member.joinedAt,
      nick: member.nick,
      avatar: null,
      banner: null,
      communication_disabled_until: null,
      flags: 0,
      pending: false,
      premium_since: null,
      mute: false,
      deaf: false,
    };
  }

  /** Interactions carry the member's computed permissions. */
  interactionMember(guildId: string, userId: string): JsonObject {
    const member = this.member(this.state.member(guildId, userId));
    return { ...member, permissions: this.state.permissions(guildId, userId).toString() };
  }

  channel(channel: ChannelRecord): JsonObject {
    return channel.thread ? this.thread(channel) : this.guildChannel(channel);
  }

  private guildChannel(channel: ChannelRecord): JsonObject {
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      position: channel.position,
      parent_id: channel.parentId,
      topic: channel.topic,
      nsfw: false,
      last_message_id: channel.lastMessageId,
      rate_limit_per_user: 0,
      permission_overwrites: [],
      default_auto_archive_duration: 1440,
      flags: 0,
    };
  }

  private thread(channel: ChannelRecord): JsonObject {
    const meta = channel.thread!;
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      parent_id: channel.parentId,
      owner_id: meta.ownerId,
      last_message_id: channel.lastMessageId,
      rate_limit_per_user: 0,
      flags: 0,
      message_count: meta.messageCount,
      member_count: meta.memberIds.size,
      total_message_sent: meta.totalMessageSent,
      thread_metadata: {
        archived: meta.archived,
        archive_timestamp: meta.archiveTimestamp,
        auto_archive_duration: meta.autoArchiveDuration,
        locked: meta.locked,
        create_timestamp: meta.createTimestamp,
        ...(channel.type === 12 ? { invitable: meta.invitable } : {}),
      },
    };
  }

  threadMember(channel: ChannelRecord, userId: string): JsonObject {
    return { id: channel.id, user_id: userId, join_timestamp: channel.thread!.createTimestamp, flags: 0 };
  }

  guild(guild: GuildRecord): JsonObject {
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      description: null,
      home_header: null,
      splash: null,
      discovery_splash: null,
      features: [],
      banner: null,
      owner_id: guild.ownerId,
      application_id: null,
      region: 'deprecated',
      afk_channel_id: null,
      afk_timeout: 300,
      system_channel_id: null,
      system_channel_flags: 0,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: 0,
      roles: [...guild.roles.values()].map((r) => this.role(r)),
      default_message_notifications: 0,
      mfa_level: 0,
      explicit_content_filter: 0,
      max_presences: null,
      max_members: 500000,
      max_stage_video_channel_users: 50,
      max_video_channel_users: 25,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      rules_channel_id: null,
      safety_alerts_channel_id: null,
      public_updates_channel_id: null,
      premium_progress_bar_enabled: false,
      nsfw: false,
      nsfw_level: 0,
      emojis: [],
      stickers: [],
      incidents_data: null,
      approximate_member_count: guild.members.size,
      approximate_presence_count: 0,
    };
  }

  /** GUILD_CREATE: without the GuildMembers intent Discord only includes the bot's own member. */
  guildCreate(guild: GuildRecord, allMembers: boolean): JsonObject {
    const channels = [...this.state.channels.values()].filter((c) => c.guildId === guild.id);
    const members = [...guild.members.values()].filter((m) => allMembers || m.userId === this.state.botUserId);
    return {
      ...this.guild(guild),
      joined_at: guild.members.get(this.state.botUserId)?.joinedAt,
      large: false,
      unavailable: false,
      member_count: guild.members.size,
      members: members.map((m) => this.member(m)),
      channels: channels.filter((c) => !c.thread).map((c) => this.channel(c)),
      threads: channels.filter((c) => c.thread && !c.thread.archived).map((c) => this.channel(c)),
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  attachment(file: FileRecord): JsonObject {
    return {
      id: file.id,
      filename: file.filename,
      size: file.bytes.length,
      url: file.externalUrl ?? this.cdn.urlFor(file),
      proxy_url: file.externalUrl ?? this.cdn.proxyUrlFor(file),
      content_type: file.contentType,
      ...(file.width !== undefined ? { width: file.width, height: file.height } : {}),
      ...(file.description !== undefined ? { description: file.description } : {}),
      ...(file.ephemeral ? { ephemeral: true } : {}),
    };
  }

  message(message: MessageRecord): JsonObject {
    const files = message.attachmentIds.map((id) => this.state.files.get(id)!);
    const thread = message.threadId ? this.state.channels.get(message.threadId) : undefined;
    return {
      id: message.id,
      type: message.type,
      channel_id: message.channelId,
      author: this.user(this.state.user(message.authorId)),
      content: message.content,
      timestamp: message.timestamp,
      edited_timestamp: message.editedTimestamp,
      tts: message.tts,
      mention_everyone: false,
      mentions: message.mentionUserIds.map((id) => this.user(this.state.user(id))),
      mention_roles: [],
      attachments: files.map((f) => this.attachment(f)),
      embeds: message.embeds.map((e) => this.embed(e, files)),
      components: message.components,
      pinned: false,
      flags: message.flags,
      ...(message.webhookId ? { webhook_id: message.webhookId } : {}),
      ...(message.applicationId ? { application_id: message.applicationId } : {}),
      ...(message.interactionMetadata ? this.interactionFields(message.interactionMetadata) : {}),
      ...(message.messageReference ? { message_reference: { type: 0, ...message.messageReference } } : {}),
      ...(thread ? { thread: this.channel(thread) } : {}),
    };
  }

  /** Both the current `interaction_metadata` and the deprecated `interaction` field Discord still sends. */
  private interactionFields(meta: JsonObject): JsonObject {
    const user = this.user(this.state.user(String(meta.user_id)));
    const legacy = { id: meta.id, type: meta.type, name: meta.name ?? '', user };
    return { interaction_metadata: this.interactionMetadata(meta), interaction: legacy };
  }

  private interactionMetadata(meta: JsonObject): JsonObject {
    const { user_id: userId, name: _name, triggering_interaction_metadata: trigger, ...rest } = meta;
    return {
      ...rest,
      user: this.user(this.state.user(String(userId))),
      ...(trigger ? { triggering_interaction_metadata: this.interactionMetadata(trigger as JsonObject) } : {}),
    };
  }

  /** Adds `type: rich` and resolves `attachment://name` image URLs to the uploaded file, as Discord does. */
  private embed(embed: JsonObject, files: FileRecord[]): JsonObject {
    const out: JsonObject = { type: 'rich', ...embed };
    for (const key of ['image', 'thumbnail'] as const) {
      const media = embed[key] as JsonObject | undefined;
      const url = typeof media?.url === 'string' ? media.url : undefined;
      const file = url?.startsWith('attachment://') ? files.find((f) => f.filename === url.slice(13)) : undefined;
      if (file) {
        out[key] = {
          url: this.cdn.urlFor(file),
          proxy_url: this.cdn.proxyUrlFor(file),
          width: file.width ?? 0,
          height: file.height ?? 0,
          content_type: file.contentType,
          flags: 0,
        };
      }
    }
    return out;
  }
}
