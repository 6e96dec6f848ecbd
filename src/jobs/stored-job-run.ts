import sharp from 'sharp';
import { InputError } from '../errors.ts';
import type { CandidateGroup } from '../pipeline/candidate-group.ts';
import type { Generation } from '../pipeline/personalizer.ts';
import type { ImageEngine } from './image-engine.ts';
import type { ScorerKind } from '../scoring/group-scorer.ts';
import type { JobRecord, Stores } from '../store/index.ts';
import { isStoreOutage } from '../store/store-outage.ts';
import type { JobOutcome, RunHooks } from './job-outcome.ts';
import { storeCandidateGroup } from './group-record.ts';
import { drawJobGroup } from './group-ranking.ts';
import { JobLife } from './job-life.ts';
import { DEFAULT_UPLOAD_LIMIT, keptFromOutcome } from './kept-outcome.ts';
import { fitToUploadLimit } from '../images/upload-fit.ts';

/** What running a stored job needs: the model, the stores, the model's id (grounding cache keys) and the group scorer. */
export interface StoredJobContext {
  engine: ImageEngine;
  stores: Stores;
  modelId: string;
  scorer: ScorerKind;
  /**
   * Whether keeping the drawn images waits out a store outage: a model worker's images reach the gateway
   * only through the store, while the in-process runner posts them from memory at once (and the write
   * that the image is posted waits instead).
   */
  drawnWaitsForStore: boolean;
}

/**
 * Runs one stored job: photos from the store, stage 1 from the grounding cache when the same user,
 * model, photos and context were grounded before, stage 2 always, a group ranked and kept; the record
 * says running, then drawn with the images kept beside it (JobLife). The in-process GenerationService and the model workers both run jobs so.
 */
export async function runStoredJob(ctx: StoredJobContext, job: JobRecord, signal: AbortSignal, hooks: RunHooks = {}): Promise<JobOutcome> {
  const { engine, stores, modelId } = ctx;
  const started = performance.now();
  const life = new JobLife(stores);
  hooks.onStart?.();
  await life.started(job.id);
  if (job.upscale) return runUpscaleJob(ctx, life, job, job.upscale, signal, hooks, started);
  const { photos, hashes, name, context } = await subjectOf(stores, job);
  const subject = photos.length ? await engine.prepareImages(photos) : null;
  try {
    let grounding = { text: '', cached: false, ms: 0 };
    if (subject) {
      const key = { userId: job.ownerId, modelId, photoHashes: hashes, name, context };
      const hit = await stores.groundings.get(key);
      if (hit) {
        grounding = { text: hit.text, cached: true, ms: 0 };
      } else {
        const g = await engine.ground(subject, { name, context }, { signal });
        await stores.groundings.put(key, { text: g.text, tokenIds: g.tokenIds, ms: g.ms });
        grounding = { text: g.text, cached: false, ms: g.ms };
      }
    }

    const request = {
      ...job.options,
      ...(job.candidates ? { candidates: job.candidates } : {}),
      prompt: job.prompt,
      seed: job.seed,
      subject,
      subjectContext: { name, context },
      grounding: grounding.text,
      signal,
      onStep: hooks.onStep,
    };
    let generation: Generation;
    let group: CandidateGroup | undefined;
    if (job.candidates) {
      ({ generation, group } = await drawJobGroup(engine, ctx.scorer, request, { subject, photos: photos.map((p) => p.bytes), prompt: job.prompt, signal }));
      generation = { ...generation, images: [group.candidates[0]] };
      await storeCandidateGroup(stores, modelId, job, group, hashes, grounding.text);
    } else {
      generation = await engine.generate(request);
    }
    // Cancelled while the last step ran: the record must say cancelled, not done.
    signal.throwIfAborted();
    // Fitted here, once, to the upload limit of the channel it goes to: whoever posts it sends it as it is.
    generation = { ...generation, images: await fitToUploadLimit(generation.images, job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT) };
    const totalMs = performance.now() - started;
    const outcome: JobOutcome = { job, generation, grounding, totalMs, ...(group ? { group } : {}) };
    // Kept before the job counts as drawn: whoever posts it (this process, a gateway, a restarted one) finds it.
    const kept = keptFromOutcome(outcome, { trace: false, sizeLimit: job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT });
    return { ...outcome, job: await life.drawn(job, kept, grounding.text, { waitForStore: ctx.drawnWaitsForStore }) };
  } finally {
    // An engine that keeps prepared photos elsewhere (a worker) frees them now.
    if (subject) engine.releaseImages?.(subject);
  }
}

/**
 * An upscale job: the stored image through the engine's upscaler (its own thread), progress per tile,
 * resized down to the server's cap when it has one. Counted and queued like any job; a result of one image.
 */
async function runUpscaleJob(ctx: StoredJobContext, life: JobLife, job: JobRecord, upscale: NonNullable<JobRecord['upscale']>, signal: AbortSignal, hooks: RunHooks, started: number): Promise<JobOutcome> {
  const { engine, stores } = ctx;
  if (!engine.upscale || !engine.upscaleScale) throw new InputError('upscaler_missing', 'Upscaling is not available on this bot right now.');
  const source = job.photoHashes?.[0] ? await stores.photos.getPhoto(job.photoHashes[0]) : undefined;
  if (!source) throw new InputError('photo_gone', 'The image to upscale is no longer stored; press Upscale again under the image.');
  let result = await engine.upscale(source, { signal, onProgress: hooks.onStep });
  signal.throwIfAborted();
  if (upscale.maxScale && upscale.maxScale < engine.upscaleScale) {
    const meta = await sharp(source).metadata();
    const width = (meta.width ?? 0) * upscale.maxScale;
    const height = (meta.height ?? 0) * upscale.maxScale;
    const data = await sharp(result.data).resize(width, height, { kernel: 'lanczos3' }).png().toBuffer();
    result = { ...result, data, width, height };
  }
  const upscaled = { data: Buffer.from(result.data), format: 'png' as const, width: result.width, height: result.height, seed: job.seed, imageTokens: [] };
  const outcome: JobOutcome = {
    job,
    generation: {
      // Fitted here, once, like a drawn image (a large upscale may need WebP to fit the channel).
      images: await fitToUploadLimit([upscaled], job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT),
      promptTokens: 0,
      timings: { tokensMs: result.ms, decodeMs: 0, imageTokensPerSec: 0 },
    },
    grounding: { text: '', cached: false, ms: 0 },
    totalMs: performance.now() - started,
  };
  // Kept with the record before it counts as drawn, like any job's images (JobLife.drawn).
  const kept = keptFromOutcome(outcome, { trace: false, sizeLimit: job.uploadLimit ?? DEFAULT_UPLOAD_LIMIT });
  return { ...outcome, job: await life.drawn(job, kept, '', { waitForStore: ctx.drawnWaitsForStore }) };
}

async function subjectOf(stores: Stores, job: JobRecord): Promise<{ photos: { bytes: Uint8Array; name: string }[]; hashes: string[]; name?: string; context?: string }> {
  if (job.subjectId) {
    const subject = await stores.subjects.get(job.ownerId, job.guildId, job.subjectId).catch((err: unknown) => {
      if (isStoreOutage(err)) throw err;
      throw new InputError('subject_gone', 'That subject is no longer available (deleted or unshared).');
    });
    const bytes = await stores.subjects.getPhotos(subject);
    const extra = await photosOf(stores, job.photoHashes ?? []);
    return {
      photos: [...bytes.map((b, i) => ({ bytes: b, name: `${subject.name} photo ${i + 1}` })), ...extra],
      hashes: [...subject.photoHashes, ...(job.photoHashes ?? [])],
      name: job.name ?? subject.name,
      context: job.context ?? subject.context,
    };
  }
  const hashes = job.photoHashes ?? [];
  return { photos: await photosOf(stores, hashes), hashes, name: job.name, context: job.context };
}

async function photosOf(stores: Stores, hashes: string[]): Promise<{ bytes: Uint8Array; name: string }[]> {
  const out: { bytes: Uint8Array; name: string }[] = [];
  for (const [i, hash] of hashes.entries()) {
    const bytes = await stores.photos.getPhoto(hash);
    if (!bytes) throw new InputError('photo_gone', 'A photo of this request is no longer stored; send it again.');
    out.push({ bytes, name: `photo ${i + 1}` });
  }
  return out;
}
