import { basename } from 'node:path';
import { InputError } from '../errors.ts';
import type { ImageEngine } from '../runtime/image-engine.ts';
import type { CandidateGroup } from '../pipeline/candidate-group.ts';
import type { Generation } from '../pipeline/personalizer.ts';
import type { ScorerKind } from '../scoring/group-scorer.ts';
import { keepGroup } from './group-record.ts';
import { rankJobGroup } from './group-ranking.ts';
import type { JobHandle, JobQueue, JobState } from './job-queue.ts';
import type { JobRecord, Stores } from '../store/index.ts';
import { isStoreOutage } from '../store/store-outage.ts';

/** Pauses between attempts at the `done` write (a store blip must not cost a drawn image). */
const DONE_WRITE_DELAYS_MS = [50, 250, 1_000];

/** How many ended jobs stateOf() remembers. */
const ENDED_REMEMBERED = 10_000;

export interface JobOutcome {
  job: JobRecord;
  /** For a group of candidates: only the best one (all of them are in `group`). */
  generation: Generation;
  /** A job with `candidates`: the whole group, best first when ranked (also kept in stores.candidates). */
  group?: OutcomeGroup;
  /** Stage-1 text ('' for plain text-to-image) and whether it came from the cache. */
  grounding: { text: string; cached: boolean; ms: number };
  totalMs: number;
}

/** What a front end shows of a group: a drawn CandidateGroup, or one read back from stores.candidates. */
export interface OutcomeGroup {
  scorer: string | null;
  scoringMs: number;
  /** Best first when ranked. */
  candidates: readonly { drawn: number; seed: number; imageTokens: readonly number[]; scores?: { fidelity: number; alignment: number } }[];
}

export interface RunHooks {
  onStart?: () => void;
  onStep?: (done: number, total: number) => void;
}

/**
 * Runs stored jobs through the queue and the pipeline: photos from the store, stage 1 from the
 * grounding cache when the same user, model, photos and context were grounded before, stage 2 always.
 * Knows nothing of Discord; the bot, tests and any other front end use it the same way.
 */
export class GenerationService {
  readonly modelId: string;
  private readonly durations: number[] = [];
  /** Jobs this process queued and that have not ended, and how recent ones ended (bounded, oldest first). */
  private readonly live = new Map<string, JobHandle<JobOutcome>>();
  private readonly ended = new Map<string, JobState>();

  constructor(
    /** The model: a Personalizer in-process, or a WorkerEngine (the bot). */
    private readonly engine: ImageEngine,
    private readonly stores: Stores,
    private readonly queue: JobQueue,
    private readonly options: { scorer?: ScorerKind } = {},
  ) {
    this.modelId = basename(engine.bundle.dir);
  }

  /** Queues a stored job; throws QueueFullError / QueueClosedError when refused. */
  submit(job: JobRecord, hooks: RunHooks = {}): JobHandle<JobOutcome> {
    const handle = this.queue.submit({
      id: job.id,
      userId: job.ownerId,
      guildId: job.guildId,
      run: (signal) => this.run(job, signal, hooks),
    });
    this.live.set(job.id, handle);
    const remember = () => {
      this.live.delete(job.id);
      this.ended.delete(job.id);
      this.ended.set(job.id, handle.state);
      if (this.ended.size > ENDED_REMEMBERED) this.ended.delete(this.ended.keys().next().value!);
    };
    handle.result.then(remember, remember);
    handle.result.catch(async (err: unknown) => {
      const cancelled = handle.state === 'cancelled';
      await this.stores.jobs
        .update(job.id, { status: cancelled ? 'cancelled' : 'failed', error: err instanceof Error ? err.message.split('\n')[0] : String(err) })
        .catch(() => {});
    });
    return handle;
  }

  /**
   * What this process knows of a job: its queue state, settled at once when it is cancelled (the job
   * record is updated a moment later). Undefined for a job this process never queued, such as one a
   * previous process left, or one that ended long ago (then the record says how it ended).
   */
  stateOf(jobId: string): JobState | undefined {
    return this.live.get(jobId)?.state ?? this.ended.get(jobId);
  }

  /** Average duration of recent jobs, for queue ETAs (a first guess before any job ran). */
  averageJobMs(): number {
    if (this.durations.length === 0) return 60_000;
    return this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
  }

  private async run(job: JobRecord, signal: AbortSignal, hooks: RunHooks): Promise<JobOutcome> {
    const started = performance.now();
    hooks.onStart?.();
    await this.stores.jobs.update(job.id, { status: 'running' });
    const { photos, hashes, name, context } = await this.subjectOf(job);
    const subject = photos.length ? await this.engine.prepareImages(photos) : null;
    try {
      let grounding = { text: '', cached: false, ms: 0 };
      if (subject) {
        const key = { userId: job.ownerId, modelId: this.modelId, photoHashes: hashes, name, context };
        const hit = await this.stores.groundings.get(key);
        if (hit) {
          grounding = { text: hit.text, cached: true, ms: 0 };
        } else {
          const g = await this.engine.ground(subject, { name, context }, { signal });
          await this.stores.groundings.put(key, { text: g.text, tokenIds: g.tokenIds, ms: g.ms });
          grounding = { text: g.text, cached: false, ms: g.ms };
        }
      }

      let generation = await this.engine.generate({
        ...job.options,
        ...(job.candidates ? { candidates: job.candidates } : {}),
        prompt: job.prompt,
        seed: job.seed,
        subject,
        subjectContext: { name, context },
        grounding: grounding.text,
        signal,
        onStep: hooks.onStep,
      });
      let group: CandidateGroup | undefined;
      if (job.candidates) {
        group = await rankJobGroup(this.engine, this.options.scorer ?? 'none', generation, { subject, photos: photos.map((p) => p.bytes), prompt: job.prompt, signal });
        generation = { ...generation, images: [group.candidates[0]] };
        await keepGroup(this.stores, this.modelId, job, group, hashes, grounding.text);
      }
      // Cancelled while the last step ran: the record must say cancelled, not done.
      signal.throwIfAborted();
      const totalMs = performance.now() - started;
      this.durations.push(totalMs);
      if (this.durations.length > 20) this.durations.shift();
      const done = await this.markDone(job, grounding.text);
      return { job: done, generation, grounding, totalMs, ...(group ? { group } : {}) };
    } finally {
      // An engine that keeps prepared photos elsewhere (a worker) frees them now.
      if (subject) this.engine.releaseImages?.(subject);
    }
  }

  /**
   * The `done` write, retried; if the store still fails, the image is delivered anyway (the bot's
   * delivery writes the record again with the result's place).
   */
  private async markDone(job: JobRecord, grounding: string): Promise<JobRecord> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.stores.jobs.update(job.id, { status: 'done', grounding });
      } catch {
        const delay = DONE_WRITE_DELAYS_MS[attempt];
        if (delay === undefined) return { ...job, status: 'done', grounding };
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async subjectOf(job: JobRecord): Promise<{ photos: { bytes: Uint8Array; name: string }[]; hashes: string[]; name?: string; context?: string }> {
    if (job.subjectId) {
      const subject = await this.stores.subjects.get(job.ownerId, job.guildId, job.subjectId).catch((err: unknown) => {
        if (isStoreOutage(err)) throw err;
        throw new InputError('subject_gone', 'That subject is no longer available (deleted or unshared).');
      });
      const bytes = await this.stores.subjects.getPhotos(subject);
      const extra = await this.photosOf(job.photoHashes ?? []);
      return {
        photos: [...bytes.map((b, i) => ({ bytes: b, name: `${subject.name} photo ${i + 1}` })), ...extra],
        hashes: [...subject.photoHashes, ...(job.photoHashes ?? [])],
        name: job.name ?? subject.name,
        context: job.context ?? subject.context,
      };
    }
    const hashes = job.photoHashes ?? [];
    return { photos: await this.photosOf(hashes), hashes, name: job.name, context: job.context };
  }

  private async photosOf(hashes: string[]): Promise<{ bytes: Uint8Array; name: string }[]> {
    const out: { bytes: Uint8Array; name: string }[] = [];
    for (const [i, hash] of hashes.entries()) {
      const bytes = await this.stores.photos.getPhoto(hash);
      if (!bytes) throw new InputError('photo_gone', 'A photo of this request is no longer stored; send it again.');
      out.push({ bytes, name: `photo ${i + 1}` });
    }
    return out;
  }
}
