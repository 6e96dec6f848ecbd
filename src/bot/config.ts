import { z } from 'zod';
import type { QuotaLimits } from '../jobs/quota.ts';
import { envInt, ModelEnvFields, scorerOf } from '../model-env.ts';
import type { Device, ScorerKind } from '../model-env.ts';

const snowflake = z.string().regex(/^\d{17,20}$/, 'must be a Discord id (17-20 digits)');
const int = envInt;

/** Environment variables the bot reads; every one is checked at start. */
const EnvSchema = z.object({
  ...ModelEnvFields,
  DISCORD_TOKEN: z.string().min(1, 'is required (the bot token from the Developer Portal)'),
  DISCORD_CLIENT_ID: snowflake,
  GUILD_ID: z.union([snowflake, z.literal('')]).optional(),
  MAX_WAITING_PER_USER: int(0, 20, 2),
  MAX_JOBS_PER_GUILD: int(1, 200, 10),
  MAX_QUEUE_LENGTH: int(1, 1000, 50),
  MAX_SUBJECT_PHOTOS: int(1, 4, 4),
  MAX_PHOTO_MB: int(1, 25, 10),
  QUOTA_USER_PER_HOUR: int(0, 100_000, 0),
  QUOTA_USER_PER_DAY: int(0, 100_000, 0),
  QUOTA_GUILD_PER_HOUR: int(0, 100_000, 0),
  QUOTA_GUILD_PER_DAY: int(0, 100_000, 0),
  MESSAGE_CONTENT: z.enum(['true', 'false']).default('true'),
  CONSENT_REQUIRED: z.enum(['true', 'false']).default('true'),
  JOB_QUEUE: z.enum(['local', 'redis', ''], 'must be local or redis').default('local'),
  SHARDS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(4096), z.literal('')], 'must be auto or a number of shards').optional(),
  /** Only for tests and self-hosted proxies: where the REST API lives. */
  DISCORD_API_BASE: z.union([z.string().url(), z.literal('')]).optional(),
});

export interface BotConfig {
  token: string;
  clientId: string;
  guildId?: string;
  modelDir: string;
  dataDir: string;
  redisUrl?: string;
  device: Device;
  /** Engine workers, each with its own copy of the model. */
  modelSlots: number;
  /** Jobs one worker draws together (each decoder step serves them all). */
  batchJobs: number;
  /** Per worker: prompt-prefix KV and vision features kept for known subjects, MiB. */
  prefixCacheMb: number;
  visionCacheMb: number;
  maxWaitingPerUser: number;
  maxJobsPerGuild: number;
  maxQueueLength: number;
  /** A job still running after this long is stopped and its user told (ms). */
  maxRunMs: number;
  /** An engine worker that has not answered its heartbeat for this long while busy is replaced (ms). */
  engineStallMs: number;
  maxSubjectPhotos: number;
  maxPhotoBytes: number;
  /** Images per member / per server per hour and per day, where a server set none lower (0: no limit; unset: none). */
  quota?: QuotaLimits;
  logLevel: string;
  /** What ranks a group of candidates (default: dino with a scorers folder, else none: unranked). */
  scorer?: ScorerKind;
  /** The embedding scorers' folder (Xenova/dino-vits16, Xenova/clip-vit-base-patch32); dino and clip need it. */
  scorerDir?: string;
  /** A Swin2SR folder (UPSCALER_DIR): the Upscale button under results; unset: no button. */
  upscalerDir?: string;
  /** What one upscale run may take before the image is tiled (MiB). */
  upscaleMemoryMb?: number;
  /** Ask for the privileged MessageContent intent (refinement by reply); off: a Refine button only. */
  messageContent: boolean;
  /** Servers that did not choose (/settings privacy) ask each member once to confirm they may use their photos; default true. */
  consentRequired?: boolean;
  apiBase?: string;
  /** Where jobs run: 'local' (this process's worker threads) or 'redis' (model workers, `npm run worker`, through REDIS_URL). */
  jobQueue?: 'local' | 'redis';
  /** Gateway shards (discord.js ShardingManager): a number, 'auto' (Discord's recommendation), or unset: one process, no manager. */
  shards?: number | 'auto';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads the bot's configuration; throws a ConfigError listing each problem (never a value). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): BotConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  }
  const e = parsed.data;
  const { scorer, problem } = scorerOf(e);
  if (problem) throw new ConfigError([problem]);
  if (e.JOB_QUEUE === 'redis' && !e.REDIS_URL) throw new ConfigError(['JOB_QUEUE redis needs REDIS_URL (the Redis the gateways and model workers share)']);
  if (e.SHARDS && e.JOB_QUEUE !== 'redis') {
    throw new ConfigError(['SHARDS needs JOB_QUEUE=redis (shards share the job queue and the store through Redis; with local jobs each shard would load the model)']);
  }
  return {
    token: e.DISCORD_TOKEN,
    clientId: e.DISCORD_CLIENT_ID,
    guildId: e.GUILD_ID || undefined,
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL || undefined,
    device: e.DEVICE,
    modelSlots: e.MODEL_SLOTS,
    batchJobs: e.BATCH_JOBS,
    prefixCacheMb: e.SUBJECT_CACHE_MB,
    visionCacheMb: e.VISION_CACHE_MB,
    maxWaitingPerUser: e.MAX_WAITING_PER_USER,
    maxJobsPerGuild: e.MAX_JOBS_PER_GUILD,
    maxQueueLength: e.MAX_QUEUE_LENGTH,
    maxRunMs: e.MAX_RUN_SECONDS * 1000,
    engineStallMs: e.ENGINE_STALL_SECONDS * 1000,
    maxSubjectPhotos: e.MAX_SUBJECT_PHOTOS,
    maxPhotoBytes: e.MAX_PHOTO_MB * 1024 * 1024,
    quota: {
      userPerHour: e.QUOTA_USER_PER_HOUR,
      userPerDay: e.QUOTA_USER_PER_DAY,
      guildPerHour: e.QUOTA_GUILD_PER_HOUR,
      guildPerDay: e.QUOTA_GUILD_PER_DAY,
    },
    logLevel: e.LOG_LEVEL,
    scorer,
    scorerDir: e.SCORER_DIR || undefined,
    upscalerDir: e.UPSCALER_DIR || undefined,
    upscaleMemoryMb: e.UPSCALE_MEMORY_MB,
    messageContent: e.MESSAGE_CONTENT === 'true',
    consentRequired: e.CONSENT_REQUIRED === 'true',
    apiBase: e.DISCORD_API_BASE || undefined,
    jobQueue: e.JOB_QUEUE || 'local',
    ...(e.SHARDS ? { shards: e.SHARDS } : {}),
  };
}
