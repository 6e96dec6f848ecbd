import { z } from 'zod';
import type { BotSettings } from '../bot/bot-deps.ts';
import type { QuotaLimits } from '../jobs/quota.ts';
import type { ModelSettings } from '../runtime/start-model-engine.ts';
import { defaultScorer, DEVICES, isEmbeddingScorer, SCORER_KINDS, type ScorerKind } from '../model-kinds.ts';

/**
 * The configuration of every process, read from the environment (.env.example documents each
 * variable): one schema, parsed once per process, each process taking its part. Problems are
 * listed one a line, naming the variable and never echoing its value.
 */

/** An integer variable within bounds, with its default. */
const envInt = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const snowflake = z.string().regex(/^\d{17,20}$/, 'must be a Discord id (17-20 digits)');
const REDIS_SCHEME = /^rediss?:\/\//;
const NOT_REDIS = 'must start with redis:// or rediss://';

/** Read by every process that loads the model or reaches the shared store: the gateway and the model workers alike. */
const MODEL_FIELDS = {
  MODEL_DIR: z.string().min(1).default('models/janus-pro-1b'),
  DATA_DIR: z.string().min(1).default('data'),
  REDIS_URL: z.union([z.string().regex(REDIS_SCHEME, NOT_REDIS), z.literal('')]).optional(),
  DEVICE: z.enum(DEVICES).default('cpu'),
  MODEL_SLOTS: envInt(1, 8, 1),
  BATCH_JOBS: envInt(1, 16, 4),
  SUBJECT_CACHE_MB: envInt(0, 65536, 4096),
  VISION_CACHE_MB: envInt(0, 65536, 256),
  MAX_RUN_SECONDS: envInt(10, 86_400, 900),
  ENGINE_STALL_SECONDS: envInt(5, 3600, 120),
  SCORER: z.enum([...SCORER_KINDS, ''], `must be ${SCORER_KINDS.slice(0, -1).join(', ')} or ${SCORER_KINDS.at(-1)}`).optional(),
  SCORER_DIR: z.string().optional(),
  /** A Swin2SR folder in the Xenova layout: the Upscale button; unset or empty: no button. */
  UPSCALER_DIR: z.string().optional(),
  UPSCALE_MEMORY_MB: envInt(64, 262_144, 3072),
  MATMUL_ACCURACY: z.enum(['fastest', 'file', ''], 'must be fastest or file').optional(),
  /** Where the engine keeps its load-time rewrite of the language model (unset: ~/.cache/xcot-personalize/graphs). */
  XCOT_GRAPH_CACHE: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Only the gateway (`npm start`) reads these. */
const GATEWAY_FIELDS = {
  DISCORD_TOKEN: z.string().min(1, 'is required (the bot token from the Developer Portal)'),
  DISCORD_CLIENT_ID: snowflake,
  GUILD_ID: z.union([snowflake, z.literal('')]).optional(),
  MAX_WAITING_PER_USER: envInt(0, 20, 2),
  MAX_JOBS_PER_GUILD: envInt(1, 200, 10),
  MAX_QUEUE_LENGTH: envInt(1, 1000, 50),
  MAX_SUBJECT_PHOTOS: envInt(1, 4, 4),
  MAX_PHOTO_MB: envInt(1, 25, 10),
  QUOTA_USER_PER_HOUR: envInt(0, 100_000, 0),
  QUOTA_USER_PER_DAY: envInt(0, 100_000, 0),
  QUOTA_GUILD_PER_HOUR: envInt(0, 100_000, 0),
  QUOTA_GUILD_PER_DAY: envInt(0, 100_000, 0),
  MESSAGE_CONTENT: z.enum(['true', 'false']).default('true'),
  CONSENT_REQUIRED: z.enum(['true', 'false']).default('true'),
  JOB_QUEUE: z.enum(['local', 'redis', ''], 'must be local or redis').default('local'),
  SHARDS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(4096), z.literal('')], 'must be auto or a number of shards').optional(),
  /** Only for tests and self-hosted proxies: where the REST API lives. */
  DISCORD_API_BASE: z.union([z.string().url(), z.literal('')]).optional(),
};

/** Only a model worker (`npm run worker`) reads these; it needs the Redis the gateways share. */
const WORKER_FIELDS = {
  REDIS_URL: z.string({ error: 'is required (the Redis the gateways share)' }).regex(REDIS_SCHEME, NOT_REDIS),
  WORKER_LOCK_SECONDS: envInt(2, 600, 30),
  HEALTH_PORT: z.union([envInt(1, 65535, 0), z.literal('')]).optional(),
};

/** Every variable some process reads. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys({ ...MODEL_FIELDS, ...GATEWAY_FIELDS, ...WORKER_FIELDS });

const GatewayEnv = z.object({ ...MODEL_FIELDS, ...GATEWAY_FIELDS });
const WorkerEnv = z.object({ ...MODEL_FIELDS, ...WORKER_FIELDS });
type ModelEnv = z.infer<z.ZodObject<typeof MODEL_FIELDS>>;

/** The part every model-loading process shares: the engine's settings (ModelSettings), the store, deadlines, ranking, logs. */
export interface ModelProcessConfig extends ModelSettings {
  dataDir: string;
  redisUrl?: string;
  /** A job still running after this long is stopped and its user told (ms). */
  maxRunMs: number;
  /** What ranks a group of candidates (SCORER; default: dino with a scorers folder, else none: unranked). */
  scorer: ScorerKind;
  logLevel: string;
}

/** `npm start`: the model process's part, the bot's own settings (passed down as deps.config), the queue's caps and Discord. */
export interface GatewayConfig extends ModelProcessConfig, BotSettings {
  token: string;
  clientId: string;
  guildId?: string;
  maxWaitingPerUser: number;
  maxJobsPerGuild: number;
  maxQueueLength: number;
  /** Images per member / per server per hour and per day, where a server set none lower (0: no limit; unset: none). */
  quota?: QuotaLimits;
  /** Ask for the privileged MessageContent intent (refinement by reply); off: a Refine button only. */
  messageContent: boolean;
  apiBase?: string;
  /** Where jobs run: 'local' (this process's worker threads) or 'redis' (model workers, `npm run worker`, through REDIS_URL). */
  jobQueue?: 'local' | 'redis';
  /** Gateway shards (discord.js ShardingManager): a number, 'auto' (Discord's recommendation), or unset: one process, no manager. */
  shards?: number | 'auto';
}

/** `npm run worker`: the model process's part, the shared Redis, its job lock and health port. */
export interface WorkerConfig extends ModelProcessConfig {
  redisUrl: string;
  /** A job whose worker stops renewing its lock this long is given to another worker (ms). */
  lockMs: number;
  /** Where GET /health answers (unset: no HTTP server). */
  healthPort?: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function parse<T>(schema: z.ZodType<T>, env: NodeJS.ProcessEnv): T {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  return parsed.data;
}

function modelPart(e: ModelEnv): ModelProcessConfig {
  const scorer = e.SCORER || defaultScorer(e.SCORER_DIR);
  if (isEmbeddingScorer(scorer) && !e.SCORER_DIR) throw new ConfigError([`SCORER ${scorer} needs SCORER_DIR (the folder with the transformers.js scorer models)`]);
  return {
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
    redisUrl: e.REDIS_URL || undefined,
    device: e.DEVICE,
    modelSlots: e.MODEL_SLOTS,
    batchJobs: e.BATCH_JOBS,
    prefixCacheMb: e.SUBJECT_CACHE_MB,
    visionCacheMb: e.VISION_CACHE_MB,
    maxRunMs: e.MAX_RUN_SECONDS * 1000,
    engineStallMs: e.ENGINE_STALL_SECONDS * 1000,
    scorer,
    scorerDir: e.SCORER_DIR || undefined,
    upscalerDir: e.UPSCALER_DIR || undefined,
    upscaleMemoryMb: e.UPSCALE_MEMORY_MB,
    graphCacheDir: e.XCOT_GRAPH_CACHE || undefined,
    matMulAccuracy: e.MATMUL_ACCURACY || undefined,
    logLevel: e.LOG_LEVEL,
  };
}

/** The gateway's configuration (`npm start`, deploy-commands, the sandbox); throws a ConfigError listing each problem. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const e = parse(GatewayEnv, env);
  const model = modelPart(e);
  if (e.JOB_QUEUE === 'redis' && !e.REDIS_URL) throw new ConfigError(['JOB_QUEUE redis needs REDIS_URL (the Redis the gateways and model workers share)']);
  if (e.SHARDS && e.JOB_QUEUE !== 'redis') {
    throw new ConfigError(['SHARDS needs JOB_QUEUE=redis (shards share the job queue and the store through Redis; with local jobs each shard would load the model)']);
  }
  return {
    ...model,
    token: e.DISCORD_TOKEN,
    clientId: e.DISCORD_CLIENT_ID,
    guildId: e.GUILD_ID || undefined,
    maxWaitingPerUser: e.MAX_WAITING_PER_USER,
    maxJobsPerGuild: e.MAX_JOBS_PER_GUILD,
    maxQueueLength: e.MAX_QUEUE_LENGTH,
    maxSubjectPhotos: e.MAX_SUBJECT_PHOTOS,
    maxPhotoBytes: e.MAX_PHOTO_MB * 1024 * 1024,
    quota: {
      userPerHour: e.QUOTA_USER_PER_HOUR,
      userPerDay: e.QUOTA_USER_PER_DAY,
      guildPerHour: e.QUOTA_GUILD_PER_HOUR,
      guildPerDay: e.QUOTA_GUILD_PER_DAY,
    },
    messageContent: e.MESSAGE_CONTENT === 'true',
    consentRequired: e.CONSENT_REQUIRED === 'true',
    apiBase: e.DISCORD_API_BASE || undefined,
    jobQueue: e.JOB_QUEUE || 'local',
    ...(e.SHARDS ? { shards: e.SHARDS } : {}),
  };
}

/** A model worker's configuration (`npm run worker`); throws a ConfigError listing each problem. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const e = parse(WorkerEnv, env);
  return {
    ...modelPart(e),
    redisUrl: e.REDIS_URL,
    lockMs: e.WORKER_LOCK_SECONDS * 1000,
    ...(e.HEALTH_PORT ? { healthPort: e.HEALTH_PORT } : {}),
  };
}
