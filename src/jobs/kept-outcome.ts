import type { OutputFormat } from '../images/encode.ts';
import type { JobRecord } from '../store/index.ts';
import type { KeptResult } from '../store/kept-result.ts';
import type { JobOutcome, OutcomeGroup } from './job-outcome.ts';

/** The upload limit a result is fitted to when the job record does not know its channel's (Discord's default). */
export const DEFAULT_UPLOAD_LIMIT = 10 * 2 ** 20;

/** A finished job's images as the store keeps them (base64), to be posted by whichever process can. */
export function keptFromOutcome(outcome: JobOutcome, where: { trace: boolean; sizeLimit: number; threadId?: string }): KeptResult {
  return {
    images: outcome.generation.images.map((img) => ({
      data: Buffer.from(img.data).toString('base64'),
      format: img.format,
      ...(img.quality ? { quality: img.quality } : {}),
      width: img.width,
      height: img.height,
      seed: img.seed,
      imageTokens: img.imageTokens,
    })),
    tokensMs: outcome.generation.timings.tokensMs,
    grounding: outcome.grounding,
    trace: where.trace,
    sizeLimit: where.sizeLimit,
    ...(where.threadId ? { threadId: where.threadId } : {}),
  };
}

/** The outcome a kept result stands for (a group's menu comes back with it: the kept image is its best candidate). */
export function outcomeFromKept(job: JobRecord, kept: KeptResult, group?: OutcomeGroup, totalMs = 0): JobOutcome {
  return {
    job,
    generation: {
      images: kept.images.map((img) => ({ ...img, format: img.format as OutputFormat, data: Buffer.from(img.data, 'base64') })),
      promptTokens: 0,
      timings: { tokensMs: kept.tokensMs, decodeMs: 0, imageTokensPerSec: 0 },
    },
    grounding: kept.grounding,
    totalMs,
    ...(group ? { group } : {}),
  };
}
