import { z } from 'zod';

/** Where the model runs. */
export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** Which scores rank a group: DINO or CLIP-I fidelity (both with CLIP-T), the bundle's self-judge, or none. */
export const SCORER_KINDS = ['dino', 'clip', 'self', 'none'] as const;
export type ScorerKind = (typeof SCORER_KINDS)[number];
/** The scorers that rank by image embeddings (they need SCORER_DIR). */
export type EmbeddingScorerKind = Extract<ScorerKind, 'dino' | 'clip'>;

/** An integer variable within bounds, with its default. */
export const envInt = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * The environment variables of every process that loads the model or reaches the shared store: the bot
 * (`npm start`) and the model workers (`npm run worker`) read them alike.
 */
export const ModelEnvFields = {
  MODEL_DIR: z.string().min(1).default('models/janus-pro-1b'),
  DATA_DIR: z.string().min(1).default('data'),
  REDIS_URL: z.union([z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://'), z.literal('')]).optional(),
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
  /** file: run a 4-bit language model at its own MatMulNBits accuracy level; fastest (default): the fastest measured correct on this CPU. */
  MATMUL_ACCURACY: z.enum(['fastest', 'file', ''], 'must be fastest or file').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** The scorer a process uses: SCORER, else dino when SCORER_DIR is set, else none; an error when dino or clip has no folder. */
export function scorerOf(env: { SCORER?: string; SCORER_DIR?: string }): { scorer: ScorerKind; problem?: string } {
  const scorer = (env.SCORER || (env.SCORER_DIR ? 'dino' : 'none')) as ScorerKind;
  if ((scorer === 'dino' || scorer === 'clip') && !env.SCORER_DIR) return { scorer, problem: `SCORER ${scorer} needs SCORER_DIR (the folder with the transformers.js scorer models)` };
  return { scorer };
}
