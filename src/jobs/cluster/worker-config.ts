import { z } from 'zod';
import { envInt, ModelEnvFields, scorerOf } from '../../model-env.ts';
import type { Device, ScorerKind } from '../../model-env.ts';

const WorkerEnvSchema = z.object({
  ...ModelEnvFields,
  REDIS_URL: z.string({ error: 'is required (the Redis the gateways share)' }).regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'),
  WORKER_LOCK_SECONDS: envInt(2, 600, 30),
  HEALTH_PORT: z.union([envInt(1, 65535, 0), z.literal('')]).optional(),
});

export interface WorkerConfig {
  redisUrl: string;
  modelDir: string;
  dataDir: string;
  device: Device;
  modelSlots: number;
  batchJobs: number;
  prefixCacheMb: number;
  visionCacheMb: number;
  maxRunMs: number;
  engineStallMs: number;
  scorer: ScorerKind;
  scorerDir?: string;
  upscalerDir?: string;
  upscaleMemoryMb?: number;
  /** A job whose worker stops renewing its lock this long is given to another worker (ms). */
  lockMs: number;
  /** Where GET /health answers (unset: no HTTP server). */
  healthPort?: number;
  logLevel: string;
}

export class WorkerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads a model worker's configuration (`npm run worker`); throws a WorkerConfigError listing each problem (never a value). */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = WorkerEnvSchema.safeParse(env);
  if (!parsed.success) throw new WorkerConfigError(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`));
  const e = parsed.data;
  const { scorer, problem } = scorerOf(e);
  if (problem) throw new WorkerConfigError([problem]);
  return {
    redisUrl: e.REDIS_URL,
    modelDir: e.MODEL_DIR,
    dataDir: e.DATA_DIR,
    device: e.DEVICE,
    modelSlots: e.MODEL_SLOTS,
    batchJobs: e.BATCH_JOBS,
    prefixCacheMb: e.SUBJECT_CACHE_MB,
    visionCacheMb: e.VISION_CACHE_MB,
    maxRunMs: e.MAX_RUN_SECONDS * 1000,
    engineStallMs: e.ENGINE_STALL_SECONDS * 1000,
    scorer,
    ...(e.SCORER_DIR ? { scorerDir: e.SCORER_DIR } : {}),
    ...(e.UPSCALER_DIR ? { upscalerDir: e.UPSCALER_DIR } : {}),
    upscaleMemoryMb: e.UPSCALE_MEMORY_MB,
    lockMs: e.WORKER_LOCK_SECONDS * 1000,
    ...(e.HEALTH_PORT ? { healthPort: e.HEALTH_PORT } : {}),
    logLevel: e.LOG_LEVEL,
  };
}
