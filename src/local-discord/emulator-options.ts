import type { TestClock } from './clock.ts';
import type { MemberOptions } from './state.ts';

/** What startEmulator is given: the bot's identity, the servers it starts with, and the limits it enforces. */

export interface ChannelSeed {
  id?: string;
  name?: string;
  /** 0 text (default), 5 announcement. */
  type?: number;
  topic?: string;
}

export interface MemberSeed extends MemberOptions {
  id: string;
}

export interface GuildSeed {
  id?: string;
  name?: string;
  /** Per-file upload limit in bytes (default 10 MiB); also sent as attachment_size_limit. */
  attachmentSizeLimit?: number;
  botPermissions?: bigint;
  channels?: ChannelSeed[];
  members?: MemberSeed[];
}

export interface EmulatorOptions {
  token: string;
  applicationId: string;
  botUserId?: string;
  botUsername?: string;
  guilds?: GuildSeed[];
  clock?: TestClock;
  heartbeatIntervalMs?: number;
  /** Privileged intents enabled in the (emulated) developer portal; default all. */
  allowedPrivilegedIntents?: number;
  attachmentUrlTtlMs?: number;
  rateLimit?: { limit: number; windowMs: number };
  dailyCommandCreateLimit?: number;
}
