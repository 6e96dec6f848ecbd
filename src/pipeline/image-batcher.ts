import ort from 'onnxruntime-node';
import type { JanusModel, KvCache, PixelBatch } from '../engine/janus-model.ts';
import { KvArena } from '../engine/kv-arena.ts';
import { kvAssemble, kvLength, type KvRowSource } from '../engine/kv-rows.ts';
import { guide, pickToken, type SamplingOptions } from '../engine/sampler.ts';
import { CancelledError } from '../errors.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import type { PromptCaches } from './prompt-caches.ts';
import { prefillPrompt, type PromptRow } from './prompt-prefill.ts';
import { appendOnes } from './text-loop.ts';

/** One request's image-token work: `count` images, each with a cond row and (guided) an uncond row. */
export interface ImageJob extends SamplingOptions {
  /** The distinct prompt rows: [cond] or [cond, uncond]; each is copied to every image. */
  rows: PromptRow[];
  images: PixelBatch | null;
  count: number;
  cfgWeight: number;
  /** Image i samples from seeds[i]. */
  seeds: number[];
  signal?: AbortSignal;
  onStep?: (done: number, total: number) => void;
}

export interface ImageBatcherOptions {
  /** Most decoder rows stepped together (a job uses 2 x count with guidance). Default 8. */
  maxRows?: number;
  /** Rows are only ever left-padded by multiples of this many columns (see ImageBatcher). Default 16. */
  padQuantum?: number;
}

/** Prompt run, waiting for the batch's length to line up with its own. */
interface Ready {
  pending: Pending;
  pre: { hidden: ort.Tensor; cache: KvCache; mask: BigInt64Array };
  promptLen: number;
  rows: number;
}

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

/** The rows being stepped: every active job's rows in order, one cache, left-padded to one length. */
interface BatchState {
  cache: KvCache;
  /** [rows, length] attention mask; padding is 0. */
  mask: BigInt64Array;
  /** Leading padding columns of each row (not part of its job's own cache). */
  pads: number[];
  /** The last position's hidden state per row [rows, 1, H]: the next logits come from it. */
  hidden: ort.Tensor;
}

/**
 * Continuous batching of image generation on one model: jobs that arrive while others are being
 * drawn join at the next step (their prompt is run first, on its own), every step advances all
 * rows of all jobs in one decoder call, and a job leaves the batch as soon as its image is done or
 * it is cancelled. Jobs' prompts differ in length, so shorter caches are left-padded with masked
 * columns; each job keeps its own seeds, guidance and sampling options.
 *
 * Masked columns add exact zeros, but where they shift a row's columns against the CPU kernels'
 * vector lanes the sums round differently: at Janus-Pro-1B's size a pad of 7 columns moved logits
 * by up to 0.07, while pads that are multiples of 4 gave bit-identical results (scratch measurement
 * on this project's 2-core AVX-512 machine, ONNX Runtime 1.30). So a row is only ever padded by a
 * multiple of `padQuantum` (16, to cover wider lanes): a job whose prompt length does not line up
 * with the batch's waits, its prompt already run, for at most padQuantum - 1 steps before joining.
 * That is what makes a job's image the same alone and batched.
 */
export class ImageBatcher {
  private readonly maxRows: number;
  private readonly padQuantum: number;
  private readonly pending: Pending[] = [];
  private ready: Ready[] = [];
  /** The stepping loop's reused KV buffers (state.cache lives in them between steps). */
  private readonly arena = new KvArena();
  private active: Active[] = [];
  private state: BatchState | null = null;
  private running = false;
  private readonly counts = { steps: 0, jobSteps: 0, maxJobs: 0, alignWaitSteps: 0 };

  constructor(
    private readonly model: JanusModel,
    private readonly caches: PromptCaches,
    options: ImageBatcherOptions = {},
  ) {
    this.maxRows = options.maxRows ?? 8;
    this.padQuantum = options.padQuantum ?? 16;
    if (!Number.isInteger(this.maxRows) || this.maxRows < 1) throw new RangeError('maxRows must be a positive integer');
    if (!Number.isInteger(this.padQuantum) || this.padQuantum < 1) throw new RangeError('padQuantum must be a positive integer');
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

  /**
   * Decoder steps run, job-steps they served (more than steps when jobs shared them), most jobs at
   * once, and steps that prompt-ready jobs waited for their length to line up.
   */
  get stats(): { steps: number; jobSteps: number; maxJobs: number; alignWaitSteps: number } {
    return { ...this.counts };
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0 || this.ready.length > 0 || this.active.length > 0) {
        await this.admit();
        if (this.active.length === 0) continue;
        try {
          await this.step();
        } catch (err) {
          // A failed step leaves no usable cache: every job in it fails with the error.
          for (const a of this.active) a.reject(err);
          this.active = [];
          this.state = null;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Runs waiting jobs' prompts while rows allow (always one into an empty batch), then adds to the
   * batch those whose length lines up with it.
   */
  private async admit(): Promise<void> {
    let rows = this.active.reduce((n, a) => n + a.rows, 0) + this.ready.reduce((n, r) => n + r.rows, 0);
    while (this.pending.length > 0) {
      const next = this.pending[0];
      const need = next.job.rows.length * next.job.count;
      if (rows > 0 && rows + need > this.maxRows) break;
      this.pending.shift();
      if (next.job.signal?.aborted) {
        next.reject(new CancelledError());
        continue;
      }
      try {
        const pre = await prefillPrompt(this.model, this.caches, next.job.rows, next.job.images, { signal: next.job.signal });
        this.ready.push({ pending: next, pre, promptLen: next.job.rows[0].ids.length, rows: need });
        rows += need;
      } catch (err) {
        next.reject(err);
      }
    }
    const stillWaiting: Ready[] = [];
    for (const r of this.ready) {
      if (r.pending.job.signal?.aborted) r.pending.reject(new CancelledError());
      else if (!this.state || (kvLength(this.state.cache) - r.promptLen) % this.padQuantum === 0) this.join(r.pending, r.pre);
      else stillWaiting.push(r);
    }
    this.ready = stillWaiting;
  }

  private join(p: Pending, pre: { hidden: ort.Tensor; cache: KvCache; mask: BigInt64Array }): void {
    const { job } = p;
    const n = job.count;
    const distinct = job.rows.length;
    const promptLen = pre.mask.length / distinct;
    const total = this.model.shape.imageTokens;
    const active: Active = {
      job,
      rows: distinct * n,
      guided: distinct === 2,
      rngs: job.seeds.map((s) => new SeededRandom(s)),
      tokens: new BigInt64Array(n * total),
      step: 0,
      resolve: p.resolve,
      reject: p.reject,
    };
    if (!this.state && n === 1) {
      // Alone in the batch: the prompt's own tensors are the batch.
      this.state = { cache: pre.cache, mask: pre.mask, pads: new Array<number>(distinct).fill(0), hidden: pre.hidden };
      this.active.push(active);
      return;
    }
    // Each distinct row copied to the job's n images: [cond x n, uncond x n].
    const copies = Array.from({ length: distinct * n }, (_, r) => Math.floor(r / n));
    const old = this.state;
    const oldLen = old ? kvLength(old.cache) : 0;
    const length = Math.max(oldLen, promptLen);
    const sources: KvRowSource[] = [];
    const pads: number[] = [];
    const maskRows: { mask: BigInt64Array; row: number; width: number }[] = [];
    const hiddenRows: { data: Float32Array; row: number }[] = [];
    if (old) {
      old.pads.forEach((pad, r) => {
        sources.push({ cache: old.cache, row: r });
        pads.push(pad + length - oldLen);
        maskRows.push({ mask: old.mask, row: r, width: oldLen });
        hiddenRows.push({ data: old.hidden.data as Float32Array, row: r });
      });
    }
    for (const r of copies) {
      sources.push({ cache: pre.cache, row: r });
      pads.push(length - promptLen);
      maskRows.push({ mask: pre.mask, row: r, width: promptLen });
      hiddenRows.push({ data: pre.hidden.data as Float32Array, row: r });
    }
    this.state = {
      cache: kvAssemble(sources, length),
      mask: assembleMask(maskRows, length),
      pads,
      hidden: assembleHidden(hiddenRows, this.model.shape.hidden),
    };
    this.active.push(active);
  }

  /** One image token for every active row, then the decoder step that makes the next logits. */
  private async step(): Promise<void> {
    const state = this.state!;
    const codes = this.model.shape.codebookSize;
    const total = this.model.shape.imageTokens;
    this.counts.steps++;
    this.counts.alignWaitSteps += this.ready.length;
    this.counts.jobSteps += this.active.length;
    this.counts.maxJobs = Math.max(this.counts.maxJobs, this.active.length);
    const raw = await this.model.imageLogits(state.hidden);
    const next = new BigInt64Array(state.pads.length);
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
      this.state = null;
      return;
    }
    let { cache, mask, pads } = state;
    const width = kvLength(cache);
    if (keep.length < pads.length) {
      // Rows left: drop theirs, and the padding columns no remaining row needs.
      const trim = Math.min(...keep.map((r) => pads[r]));
      const length = width - trim;
      cache = kvAssemble(keep.map((r) => ({ cache: state.cache, row: r })), length);
      mask = assembleMask(keep.map((r) => ({ mask: state.mask, row: r, width })), length);
      pads = keep.map((r) => pads[r] - trim);
    }
    const rows = pads.length;
    const ids = keep.length < next.length ? BigInt64Array.from(keep, (r) => next[r]) : next;
    const embeds = await this.model.embedImageTokens(ids);
    const grown = appendOnes(mask, rows);
    const out = await this.model.decode(embeds, cache, grown, this.arena);
    this.state = { cache: out.cache, mask: grown, pads, hidden: out.hidden };
  }
}

/** Mask rows right-aligned in `length` columns, zeros in front. */
function assembleMask(rows: { mask: BigInt64Array; row: number; width: number }[], length: number): BigInt64Array {
  const out = new BigInt64Array(rows.length * length);
  rows.forEach((r, i) => {
    const take = Math.min(r.width, length);
    out.set(r.mask.subarray(r.row * r.width + r.width - take, (r.row + 1) * r.width), i * length + length - take);
  });
  return out;
}

function assembleHidden(rows: { data: Float32Array; row: number }[], hidden: number): ort.Tensor {
  const out = new Float32Array(rows.length * hidden);
  rows.forEach((r, i) => out.set(r.data.subarray(r.row * hidden, (r.row + 1) * hidden), i * hidden));
  return new ort.Tensor('float32', out, [rows.length, 1, hidden]);
}
