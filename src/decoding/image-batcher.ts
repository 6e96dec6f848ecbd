import ort from 'onnxruntime-node';
import type { JanusModel, KvCache, PixelBatch } from '../model/janus-model.ts';
import { pickRows, stackRows } from '../model/hidden-rows.ts';
import { KvCapacity } from '../model/kv-capacity.ts';
import { DeviceKvCapacity } from '../model/device-kv-capacity.ts';
import { guide, pickToken, type SamplingOptions } from '../model/sampler.ts';
import { CancelledError } from '../errors.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import type { PromptCaches } from './prompt-caches.ts';
import { prefillPrompt, type PromptRow } from './prompt-prefill.ts';
import type { ProgressHooks } from './progress.ts';

/** One request's image-token work: `count` images, each with a cond row and (guided) an uncond row. */
export interface ImageJob extends SamplingOptions, ProgressHooks {
  /** The distinct prompt rows: [cond] or [cond, uncond]; each is copied to every image. */
  rows: PromptRow[];
  images: PixelBatch | null;
  count: number;
  cfgWeight: number;
  /** Image i samples from seeds[i]. */
  seeds: number[];
}

export interface ImageBatcherOptions {
  /** Most decoder rows stepped together (a job uses 2 x count with guidance). Default 8. */
  maxRows?: number;
  /** The batch's KV capacity is always a multiple of this many columns (see KvCapacity). Default 16. */
  capacityQuantum?: number;
}

/** Free columns a batch's cache is (re)made with: it is copied to grow once per this many steps. */
const HEADROOM = 64;

interface Active {
  job: ImageJob;
  /** Rows in the batch: count x distinct rows, laid out [cond x count, uncond x count]. */
  rows: number;
  guided: boolean;
  rngs: SeededRandom[];
  tokens: BigInt64Array;
  step: number;
  resolve(tokens: BigInt64Array): void;
  reject(err: unknown): void;
}

interface Pending {
  job: ImageJob;
  resolve(tokens: BigInt64Array): void;
  reject(err: unknown): void;
}

/** The rows being stepped: every active job's rows in order, in one in-place cache (in WebGPU memory when the model keeps it there). */
interface BatchState {
  kv: KvCapacity | DeviceKvCapacity;
  /** The last position's hidden state per row [rows, 1, H]: the next logits come from it. */
  hidden: ort.Tensor;
}

/**
 * Continuous batching of image generation on one model: jobs that arrive while others are being
 * drawn join at the next step (their prompt is run first, on its own), every step advances all
 * rows of all jobs in one decoder call, and a job leaves the batch as soon as its image is done or
 * it is cancelled. Each job keeps its own seeds, guidance and sampling options. The cache is a
 * KvCapacity: rows of different lengths side by side, each new position written in place, its
 * capacity a multiple of 16 columns so that a job's numbers, hence its image, are the same alone
 * and batched (tested).
 */
export class ImageBatcher {
  private readonly maxRows: number;
  private readonly quantum: number;
  private readonly pending: Pending[] = [];
  private active: Active[] = [];
  private state: BatchState | null = null;
  private running = false;
  private readonly counts = { steps: 0, jobSteps: 0, maxJobs: 0 };

  constructor(
    private readonly model: JanusModel,
    private readonly caches: PromptCaches,
    options: ImageBatcherOptions = {},
  ) {
    this.maxRows = options.maxRows ?? 8;
    this.quantum = options.capacityQuantum ?? 16;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new RangeError('maxRows must be a positive integer');
    if (!Number.isInteger(this.quantum) || this.quantum < 1) throw new RangeError('capacityQuantum must be a positive integer');
  }

  /** [count, imageTokens] token ids of the job's images. */
  run(job: ImageJob): Promise<BigInt64Array> {
    return new Promise((resolve, reject) => {
      if (job.signal?.aborted) return reject(new CancelledError());
      const entry: Pending = { job, resolve, reject };
      this.pending.push(entry);
      // Cancelled while waiting for room: leave the line at once (a running job stops at its next step).
      job.signal?.addEventListener(
        'abort',
        () => {
          const at = this.pending.indexOf(entry);
          if (at >= 0) {
            this.pending.splice(at, 1);
            reject(new CancelledError());
          }
        },
        { once: true },
      );
      if (!this.running) void this.pump();
    });
  }

  /** Decoder steps run, job-steps they served (more than steps when jobs shared them), most jobs at once. */
  get stats(): { steps: number; jobSteps: number; maxJobs: number } {
    return { ...this.counts };
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0 || this.active.length > 0) {
        await this.admit();
        if (this.active.length === 0) continue;
        try {
          await this.step();
        } catch (err) {
          // A failed step leaves no usable cache: every job in it fails with the error.
          for (const a of this.active) a.reject(err);
          this.active = [];
          this.setState(null);
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Runs waiting jobs' prompts and adds them to the batch while rows allow (always one into an empty batch). */
  private async admit(): Promise<void> {
    let rows = this.active.reduce((n, a) => n + a.rows, 0);
    while (this.pending.length > 0) {
      const next = this.pending[0];
      const need = next.job.rows.length * next.job.count;
      if (rows > 0 && rows + need > this.maxRows) return;
      this.pending.shift();
      if (next.job.signal?.aborted) {
        next.reject(new CancelledError());
        continue;
      }
      try {
        const pre = await prefillPrompt(this.model, this.caches, next.job.rows, next.job.images, { signal: next.job.signal });
        await this.join(next, pre);
        rows += need;
      } catch (err) {
        next.reject(err);
      }
    }
  }

  private async join(p: Pending, pre: { hidden: ort.Tensor; cache: KvCache; mask: BigInt64Array }): Promise<void> {
    const { job } = p;
    const n = job.count;
    const distinct = job.rows.length;
    const total = this.model.shape.imageTokens;
    // Each distinct row copied to the job's n images: [cond x n, uncond x n].
    const copies = Array.from({ length: distinct * n }, (_, r) => Math.floor(r / n));
    const hidden = pickRows(pre.hidden, copies);
    const old = this.state;
    const ops = this.model.deviceKv;
    if (ops) {
      // The prompt's cache goes to the device once; from here on it is only changed there.
      const joining = await DeviceKvCapacity.fromCache(ops, pre.cache, pre.mask, copies, this.quantum, HEADROOM);
      let kv = joining;
      if (old) {
        try {
          kv = await DeviceKvCapacity.concat([{ kv: old.kv as DeviceKvCapacity }, { kv: joining }], this.quantum, HEADROOM);
        } finally {
          joining.dispose();
        }
      }
      this.setState({ kv, hidden: old ? stackRows([old.hidden, hidden]) : hidden });
    } else {
      const joining = KvCapacity.fromCache(pre.cache, pre.mask, copies, this.quantum, HEADROOM);
      this.state = old
        ? { kv: KvCapacity.concat([{ kv: old.kv as KvCapacity }, { kv: joining }], this.quantum, HEADROOM), hidden: stackRows([old.hidden, hidden]) }
        : { kv: joining, hidden };
    }
    this.active.push({
      job,
      rows: distinct * n,
      guided: distinct === 2,
      rngs: job.seeds.map((s) => new SeededRandom(s)),
      tokens: new BigInt64Array(n * total),
      step: 0,
      resolve: p.resolve,
      reject: p.reject,
    });
  }

  /** Replaces the batch state, freeing the device cache it no longer uses. */
  private setState(next: BatchState | null): void {
    const old = this.state?.kv;
    if (old instanceof DeviceKvCapacity && old !== next?.kv) old.dispose();
    this.state = next;
  }

  /** One image token for every active row, then the decoder step that makes the next logits. */
  private async step(): Promise<void> {
    const state = this.state!;
    const codes = this.model.shape.codebookSize;
    const total = this.model.shape.imageTokens;
    this.counts.steps++;
    this.counts.jobSteps += this.active.length;
    this.counts.maxJobs = Math.max(this.counts.maxJobs, this.active.length);
    const raw = await this.model.imageLogits(state.hidden);
    const next = new BigInt64Array(state.kv.rows);
    const keep: number[] = [];
    const stillActive: Active[] = [];
    let offset = 0;
    for (const a of this.active) {
      const { job } = a;
      const n = job.count;
      if (job.signal?.aborted) {
        a.reject(new CancelledError());
        offset += a.rows;
        continue;
      }
      const own = raw.subarray(offset * codes, (offset + a.rows) * codes);
      const logits = a.guided ? guide(own, n, codes, job.cfgWeight) : own;
      for (let i = 0; i < n; i++) {
        const id = BigInt(pickToken(logits.subarray(i * codes, (i + 1) * codes), job, a.rngs[i]));
        a.tokens[i * total + a.step] = id;
        next[offset + i] = id;
        if (a.guided) next[offset + n + i] = id;
      }
      a.step++;
      job.onStep?.(a.step, total);
      if (a.step === total) a.resolve(a.tokens);
      else {
        stillActive.push(a);
        for (let r = 0; r < a.rows; r++) keep.push(offset + r);
      }
      offset += a.rows;
    }
    this.active = stillActive;
    if (keep.length === 0) {
      this.setState(null);
      return;
    }
    const ids = keep.length < next.length ? BigInt64Array.from(keep, (r) => next[r]) : next;
    const embeds = await this.model.embedImageTokens(ids);
    const kv = state.kv;
    if (kv instanceof DeviceKvCapacity) {
      let now = kv;
      // Rows left (a copy without theirs), or a row would run out of columns (a bigger copy).
      if (keep.length < kv.rows) now = await DeviceKvCapacity.concat([{ kv, rows: keep }], this.quantum, HEADROOM);
      else if (!kv.hasRoom) now = await DeviceKvCapacity.concat([{ kv }], this.quantum, HEADROOM);
      this.setState({ kv: now, hidden: state.hidden });
      const out = await this.model.decodeStep(embeds, now.past(), now.stepMask());
      await now.push(out.fresh);
      this.state = { kv: now, hidden: out.hidden };
      return;
    }
    let host = kv;
    if (keep.length < host.rows) host = KvCapacity.concat([{ kv: host, rows: keep }], this.quantum, HEADROOM);
    else if (!host.hasRoom) host = KvCapacity.concat([{ kv: host }], this.quantum, HEADROOM);
    const out = await this.model.decodeFresh(embeds, host.past(), host.stepMask());
    host.push(out.fresh);
    this.state = { kv: host, hidden: out.hidden };
  }
}
