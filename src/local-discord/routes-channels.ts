import type { EmulatorCore } from './core.ts';
import { errors, fieldError } from './errors.ts';
import { threadNameLimits } from './limits.ts';
import { CHANNEL_FLAGS, MessageFlag } from './messages.ts';
import { hasPermission, Permission } from './permissions.ts';
import type { Route, RouteContext } from './router.ts';
import { ChannelType, type ChannelRecord, type JsonObject, type MessageRecord } from './state.ts';

const TEXT_CHANNELS: number[] = [ChannelType.GuildText, ChannelType.GuildAnnouncement];

/** Channels, messages and threads, as the bot reaches them with its own token. */
export function channelRoutes(core: EmulatorCore): Route[] {
  const { state, renderer, messages } = core;

  const botMay = (channel: ChannelRecord, needed: bigint) => {
    if (!hasPermission(state.permissions(channel.guildId, state.botUserId), needed)) {
      throw errors.missingPermissions().withDetail(`bot lacks permission bits ${needed} in channel ${channel.id}`);
    }
  };

  const visibleChannel = (ctx: RouteContext): ChannelRecord => {
    const channel = state.channel(ctx.params.channel_id);
    if (!hasPermission(state.permissions(channel.guildId, state.botUserId), Permission.ViewChannel)) throw errors.missingAccess();
    if (channel.type === ChannelType.PrivateThread && !channel.thread!.memberIds.has(state.botUserId) &&
        !hasPermission(state.permissions(channel.guildId, state.botUserId), Permission.ManageThreads)) {
      throw errors.missingAccess();
    }
    return channel;
  };

  /** Posting into an archived thread unarchives it, unless it is locked. */
  const writableChannel = (ctx: RouteContext): ChannelRecord => {
    const channel = visibleChannel(ctx);
    botMay(channel, channel.thread ? Permission.SendMessagesInThreads : Permission.SendMessages);
    if (ctx.files.length > 0) botMay(channel, Permission.AttachFiles);
    if (channel.thread?.archived) {
      if (channel.thread.locked) throw errors.threadArchived();
      channel.thread.archived = false;
    }
    channel.thread?.memberIds.add(state.botUserId);
    return channel;
  };

  const createMessage = (ctx: RouteContext) => {
    const channel = writableChannel(ctx);
    const message = messages.create({
      channelId: channel.id,
      authorId: state.botUserId,
      body: ctx.body,
      files: ctx.files,
      sizeLimit: state.guild(channel.guildId).attachmentSizeLimit,
      source: 'bot',
      allowedFlags: CHANNEL_FLAGS,
    });
    return { status: 200, body: renderer.message(message) };
  };

  const editMessage = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    const message = state.message(channel.id, ctx.params.message_id);
    if (message.authorId !== state.botUserId || message.webhookId) throw errors.notAuthor();
    const edited = messages.edit(message, ctx.body, ctx.files, state.guild(channel.guildId).attachmentSizeLimit);
    return { status: 200, body: renderer.message(edited) };
  };

  const deleteMessage = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    const message = state.message(channel.id, ctx.params.message_id);
    if (message.authorId !== state.botUserId) botMay(channel, Permission.ManageMessages);
    messages.delete(message);
    return { status: 204 };
  };

  /** Newest first, like Discord; `limit` 1-100 (default 50), with before/after/around cursors. */
  const listMessages = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    botMay(channel, Permission.ReadMessageHistory);
    const limit = Number(ctx.query.get('limit') ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw fieldError(['limit'], 'NUMBER_TYPE_MAX', 'Must be between 1 and 100.');
    const newestFirst = state.channelMessages(channel.id).filter((m) => !(m.flags & MessageFlag.Ephemeral)).reverse();
    const page = paginate(newestFirst, ctx.query, limit);
    return { status: 200, body: page.map((m) => renderer.message(m)) };
  };

  const getMessage = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    botMay(channel, Permission.ReadMessageHistory);
    return { status: 200, body: renderer.message(state.message(channel.id, ctx.params.message_id)) };
  };

  /** A thread started from a message takes the message's id, and the message then carries it. */
  const threadFromMessage = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    if (!TEXT_CHANNELS.includes(channel.type)) throw fieldError(['channel_id'], 'CHANNEL_TYPE_INVALID', 'Threads can only be started in text or announcement channels');
    botMay(channel, Permission.CreatePublicThreads);
    const message = state.message(channel.id, ctx.params.message_id);
    if (message.threadId || state.channels.has(message.id)) throw errors.threadAlreadyCreated();
    assertThreadName(ctx.body.name);
    const type = channel.type === ChannelType.GuildAnnouncement ? ChannelType.AnnouncementThread : ChannelType.PublicThread;
    const thread = openThread(channel, ctx.body, type, message.id);
    message.threadId = thread.id;
    messages.announceUpdate(message);
    return { status: 201, body: renderer.channel(thread) };
  };

  /** Without a message, Discord's default thread type is private (12). */
  const threadWithoutMessage = (ctx: RouteContext) => {
    const channel = visibleChannel(ctx);
    if (!TEXT_CHANNELS.includes(channel.type)) throw fieldError(['channel_id'], 'CHANNEL_TYPE_INVALID', 'Threads can only be created in text or announcement channels');
    const type = Number(ctx.body.type ?? ChannelType.PrivateThread);
    botMay(channel, type === ChannelType.PrivateThread ? Permission.CreatePrivateThreads : Permission.CreatePublicThreads);
    assertThreadName(ctx.body.name);
    const thread = openThread(channel, ctx.body, type);
    return { status: 201, body: { ...renderer.channel(thread), member: renderer.threadMember(thread, state.botUserId) } };
  };

  const openThread = (parent: ChannelRecord, body: JsonObject, type: number, id?: string): ChannelRecord => {
    const thread = state.createThread(parent, {
      id,
      name: String(body.name),
      type,
      ownerId: state.botUserId,
      autoArchiveDuration: Number(body.auto_archive_duration ?? 1440),
      invitable: body.invitable !== false,
    });
    const event = { ...renderer.channel(thread), newly_created: true, member: renderer.threadMember(thread, state.botUserId) };
    core.gateway.dispatch('THREAD_CREATE', event);
    core.events.push({ kind: 'thread_create', channelId: parent.id, thread: renderer.channel(thread) });
    return thread;
  };

  const joinThread = (ctx: RouteContext) => {
    const thread = visibleChannel(ctx);
    if (!thread.thread) throw fieldError(['channel_id'], 'CHANNEL_TYPE_INVALID', 'Not a thread');
    if (thread.thread.archived) throw errors.threadArchived();
    thread.thread.memberIds.add(state.botUserId);
    core.gateway.dispatch('THREAD_MEMBERS_UPDATE', {
      id: thread.id,
      guild_id: thread.guildId,
      member_count: thread.thread.memberIds.size,
      added_members: [renderer.threadMember(thread, state.botUserId)],
    });
    return { status: 204 };
  };

  return [
    { method: 'GET', pattern: '/channels/:channel_id', auth: 'bot', handle: (ctx) => ({ status: 200, body: renderer.channel(visibleChannel(ctx)) }) },
    { method: 'GET', pattern: '/channels/:channel_id/messages', auth: 'bot', handle: listMessages },
    { method: 'POST', pattern: '/channels/:channel_id/messages', auth: 'bot', handle: createMessage },
    { method: 'GET', pattern: '/channels/:channel_id/messages/:message_id', auth: 'bot', handle: getMessage },
    { method: 'PATCH', pattern: '/channels/:channel_id/messages/:message_id', auth: 'bot', handle: editMessage },
    { method: 'DELETE', pattern: '/channels/:channel_id/messages/:message_id', auth: 'bot', handle: deleteMessage },
    { method: 'POST', pattern: '/channels/:channel_id/messages/:message_id/threads', auth: 'bot', handle: threadFromMessage },
    { method: 'POST', pattern: '/channels/:channel_id/threads', auth: 'bot', handle: threadWithoutMessage },
    { method: 'PUT', pattern: '/channels/:channel_id/thread-members/@me', auth: 'bot', handle: joinThread },
  ];
}

function assertThreadName(name: unknown): void {
  const issues = threadNameLimits(name);
  if (issues.length > 0) throw errors.invalidFormBody(issues, 'limit');
}

/** Discord's message pagination over newest-first messages. */
function paginate(newestFirst: MessageRecord[], query: URLSearchParams, limit: number): MessageRecord[] {
  const id = (m: MessageRecord) => BigInt(m.id);
  const before = query.get('before');
  const after = query.get('after');
  const around = query.get('around');
  if (before) return newestFirst.filter((m) => id(m) < BigInt(before)).slice(0, limit);
  if (after) return newestFirst.filter((m) => id(m) > BigInt(after)).slice(-limit);
  if (around) {
    const center = newestFirst.findIndex((m) => id(m) <= BigInt(around));
    const start = Math.max(0, (center < 0 ? newestFirst.length : center) - Math.floor(limit / 2));
    return newestFirst.slice(start, start + limit);
  }
  return newestFirst.slice(0, limit);
}
