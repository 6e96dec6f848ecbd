import type { JsonObject } from './state.ts';

export const Intent = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildPresences: 1 << 8,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  GuildMessageTyping: 1 << 11,
  DirectMessages: 1 << 12,
  MessageContent: 1 << 15,
} as const;

export const PRIVILEGED_INTENTS = Intent.GuildMembers | Intent.GuildPresences | Intent.MessageContent;

const GUILD_EVENTS = [
  'GUILD_CREATE', 'GUILD_UPDATE', 'GUILD_DELETE', 'GUILD_ROLE_CREATE', 'GUILD_ROLE_UPDATE',
  'GUILD_ROLE_DELETE', 'CHANNEL_CREATE', 'CHANNEL_UPDATE', 'CHANNEL_DELETE', 'THREAD_CREATE',
  'THREAD_UPDATE', 'THREAD_DELETE', 'THREAD_LIST_SYNC', 'THREAD_MEMBER_UPDATE',
  'THREAD_MEMBERS_UPDATE',
];
const MEMBER_EVENTS = ['GUILD_MEMBER_ADD', 'GUILD_MEMBER_UPDATE', 'GUILD_MEMBER_REMOVE'];
const MESSAGE_EVENTS = ['MESSAGE_CREATE', 'MESSAGE_UPDATE', 'MESSAGE_DELETE', 'MESSAGE_DELETE_BULK'];

/** The intent a dispatch needs; undefined for events every session gets (READY, INTERACTION_CREATE...). */
export function requiredIntent(event: string, data: JsonObject): number | undefined {
  if (GUILD_EVENTS.includes(event)) return Intent.Guilds;
  if (MEMBER_EVENTS.includes(event)) return Intent.GuildMembers;
  if (MESSAGE_EVENTS.includes(event)) return data.guild_id ? Intent.GuildMessages : Intent.DirectMessages;
  if (event.startsWith('MESSAGE_REACTION')) return Intent.GuildMessageReactions;
  if (event === 'TYPING_START') return Intent.GuildMessageTyping;
  return undefined;
}

/**
 * Without the MessageContent intent, Discord blanks content, embeds, attachments, components and polls
 * of messages, except the bot's own, messages that mention it, and DMs.
 */
export function applyMessageContentRule(event: string, data: JsonObject, intents: number, botUserId: string): JsonObject {
  if (event !== 'MESSAGE_CREATE' && event !== 'MESSAGE_UPDATE') return data;
  if ((intents & Intent.MessageContent) !== 0 || !data.guild_id) return data;
  const author = data.author as JsonObject | undefined;
  const mentions = (data.mentions as JsonObject[] | undefined) ?? [];
  if (author?.id === botUserId || mentions.some((u) => u.id === botUserId)) return data;
  const { poll: _poll, ...rest } = data;
  return { ...rest, content: '', embeds: [], attachments: [], components: [] };
}

/** The application flags that say which privileged intents are enabled (the *_LIMITED variants are omitted). */
export function applicationFlags(allowed: number): number {
  const GATEWAY_PRESENCE = 1 << 12;
  const GATEWAY_GUILD_MEMBERS = 1 << 14;
  const GATEWAY_MESSAGE_CONTENT = 1 << 18;
  return (
    (allowed & Intent.GuildPresences ? GATEWAY_PRESENCE : 0) |
    (allowed & Intent.GuildMembers ? GATEWAY_GUILD_MEMBERS : 0) |
    (allowed & Intent.MessageContent ? GATEWAY_MESSAGE_CONTENT : 0)
  );
}
