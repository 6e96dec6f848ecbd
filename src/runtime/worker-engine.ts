import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import type { Device } from '../bundle/load-bundle.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { EngineGenerateRequest, Generation, GroundOptions, Grounding, PhotoFile } from '../pipeline/personalizer.ts';
import type { SelfJudgement } from '../pipeline/self-judge.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { ModelShape } from '../model/janus-model.ts';
import type { DrawnGroupScores, ScoredGeneration } from '../pipeline/candidate-group.ts';
import { UpscaleThread, type UpscaleResult } from './upscale-thread.ts';
import type { CrashMode, EngineInfo, ModelLoadOptions, ToWorker, WireGeneration, WireGenerateRequest } from './protocol.ts';
import { EngineThreads, Slot, type EngineLogger, type SlotState } from './engine-threads.ts';
import { Placement } from './placement.ts';
import type { CallHooks } from './requests.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';
import { firstLine } from '../util/first-line.ts';

export { Slot, type EngineLogger };

/** The engine's options: how each worker thread loads the model (ModelLoadOptions), and how the threads are run. */
export interface WorkerEngineOptions extends ModelLoadOptions {
  /** Engine workers, each with its own sessions (one per queue slot). Default 1. */
  workers?: number;
  /**
   * ONNX Runtime intra-op threads per session. Default: ONNX Runtime's choice with one worker; the
   * machine's cores split between workers with more.
   */
  intraOpThreads?: number;
  /**
   * A Swin2SR folder: the upscaler runs in a worker thread of its own beside the engine workers. One
   * that does not load leaves upscaling off (upscalerProblem says why); the engine starts anyway.
   */
  upscalerDir?: string;
  /** What one upscale run may take before the image is tiled (MiB, default 3072). */
  upscaleMemoryMb?: number;
  /** Told (once per reason) why CUDA was not used, when it was asked for. */
  onFallback?: (reason: string) => void;
  logger?: EngineLogger;
  /** Back-off before restarting a dead worker: `initial`, doubling per consecutive crash, up to `max` (ms). */
  restartDelayMs?: { initial?: number; max?: number };
  /** A worker still busy this long after its request was cancelled is replaced (ms, default 60 s). */
  cancelGraceMs?: number;
  /**
   * A worker with requests in flight whose event loop has not answered a heartbeat for this long is
   * replaced, and its requests fail with EngineStuckError (ms, default 120 s: longer than any single
   * ONNX Runtime run of a healthy model, which blocks the worker's loop while it lasts).
   */
  stallMs?: number;
  /** V8 heap limits per worker (ONNX Runtime's native memory is not counted). */
  resourceLimits?: ResourceLimits;
}

/** A subject prepared inside one worker; only that worker can ground or draw with it. */
export class WorkerSubject {
  /** @internal */
  released = false;

  /** @internal */
  constructor(
    readonly engine: WorkerEngine,
    /** @internal */ readonly slot: Slot,
    /** @internal */ readonly generation: number,
    /** @internal */ readonly handle: number,
    /** Number of photos. */
    readonly count: number,
  ) {}
}

export interface WorkerStatus {
  index: number;
  state: SlotState;
  threadId: number | null;
  pending: number;
  subjects: number;
  restarts: number;
  /** ONNX Runtime runs the worker is inside at this instant (-1: cannot tell). */
  nativeRuns: number;
}

/**
 * The Personalizer's work in worker threads: each worker loads the bundle (its own ONNX sessions)
 * and runs prepareImages, ground and generate there, so the main thread only schedules and talks
 * to Discord. A job goes to the least busy worker (requests in flight plus prepared subjects kept);
 * a prepared subject stays in the worker that made it, and its ground and generate go there too.
 *
 * A worker that dies (uncaught error, out of heap memory, killed) fails its in-flight requests with
 * EngineCrashedError and is restarted after a back-off; the other workers and later jobs go on.
 * A worker that stops answering (its heartbeat, or a cancel) is replaced the same way, its requests
 * failing with EngineStuckError. A native crash (segfault, abort) of ONNX Runtime still ends the whole process: threads share it.
 *
 * The parts: EngineThreads (engine-threads.ts) starts and supervises the threads, one per Slot;
 * each slot's Requests table (requests.ts) carries the calls to its thread; Placement
 * (placement.ts) chooses the slot of each call. This class is the engine API over them (what src/jobs' ImageEngine asks for).
 */
export class WorkerEngine {
  #threads: EngineThreads;
  #placement: Placement;
  #upscaler: UpscaleThread | null = null;
  #upscalerProblem: string | undefined;
  #released = new FinalizationRegistry<{ slot: Slot; generation: number; handle: number }>((held) => this.#release(held));

  private constructor(options: WorkerEngineOptions) {
    let workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be a positive integer');
    if (options.device === 'webgpu' && workers > 1) {
      // Two threads running WebGPU sessions at once crash the process (Dawn, SIGSEGV): one thread
      // runs all device work; its batcher still steps every job of the batch together.
      options.logger?.warn({ asked: workers }, 'DEVICE=webgpu runs the model in one worker thread (MODEL_SLOTS taken as 1)');
      workers = 1;
    }
    const intraOpThreads = options.intraOpThreads ?? (workers > 1 ? Math.max(1, Math.floor(availableParallelism() / workers)) : undefined);
    this.#threads = new EngineThreads({
      workers,
      init: {
        modelDir: options.modelDir,
        device: options.device,
        dtypes: options.dtypes,
        intraOpThreads,
        preprocess: options.preprocess,
        visionCacheMb: options.visionCacheMb,
        prefixCacheMb: options.prefixCacheMb,
        maxBatchRows: options.maxBatchRows,
        scorerDir: options.scorerDir,
        graphCacheDir: options.graphCacheDir,
        matMulAccuracy: options.matMulAccuracy,
        testHooks: options.testHooks,
      },
      resourceLimits: options.resourceLimits,
      restartDelayMs: options.restartDelayMs,
      cancelGraceMs: options.cancelGraceMs,
      stallMs: options.stallMs,
      onFallback: options.onFallback,
      logger: options.logger,
    });
    this.#placement = new Placement(this.#threads);
  }

  /** Starts the workers and waits until each has loaded the bundle; throws the load error (e.g. BundleError). */
  static async start(options: WorkerEngineOptions): Promise<WorkerEngine> {
    const engine = new WorkerEngine(options);
    await engine.#threads.start();
    if (options.upscalerDir) {
      try {
        engine.#upscaler = await UpscaleThread.start({
          dir: options.upscalerDir,
          device: options.device,
          memoryBudgetMb: options.upscaleMemoryMb,
          // One core for the upscaler: the engine workers keep the rest for their steps.
          threads: 1,
        });
      } catch (err) {
        engine.#upscalerProblem = firstLine(err);
      }
    }
    return engine;
  }

  /** The bundle's folder and the graphs (dtype variants) the workers loaded. */
  get bundle(): EngineInfo['bundle'] {
    return this.#loaded().bundle;
  }

  /** The execution provider in use (after any CUDA fallback). */
  get device(): Device {
    return this.#loaded().device;
  }

  get shape(): ModelShape {
    return this.#loaded().shape;
  }

  /** Set when the language model could not be loaded in its KV-append form: why. */
  get kvAppendReason(): string | undefined {
    return this.#loaded().kvAppendReason;
  }

  /** The loaded model's facts, for the bundle report. */
  get facts(): EngineInfo['facts'] {
    return this.#loaded().facts;
  }

  /** The upscaler's scale, when one is loaded. */
  get upscaleScale(): number | undefined {
    return this.#upscaler?.scale;
  }

  /** Why the upscaler folder given did not load (one line), if it did not. */
  get upscalerProblem(): string | undefined {
    return this.#upscalerProblem;
  }

  /** An encoded image upscaled in the upscaler's thread (PNG out); needs `upscalerDir`. */
  async upscale(image: Uint8Array, options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<UpscaleResult> {
    if (!this.#upscaler) throw new Error('this engine has no upscaler');
    return this.#upscaler.upscale(image, options);
  }

  get workers(): number {
    return this.#threads.slots.length;
  }

  status(): WorkerStatus[] {
    return this.#threads.slots.map((s) => ({
      index: s.index,
      state: s.state,
      threadId: s.worker?.threadId ?? null,
      pending: s.requests.size,
      subjects: s.handles.size,
      restarts: s.restarts,
      nativeRuns: Atomics.load(s.nativeRuns, 0),
    }));
  }

  async prepareImages(inputs: PhotoFile[], limits?: Partial<ImageLimits>): Promise<WorkerSubject> {
    const slot = await this.#placement.pickForPhotos(inputs);
    // Copies: the caller keeps its buffers (often slices of a shared pool), the worker gets its own.
    const photos = inputs.map((p) => ({ bytes: new Uint8Array(p.bytes), name: p.name }));
    const generation = slot.generation;
    const { handle, count } = (await this.#send(
      slot,
      { op: 'prepareImages', id: 0, photos, limits },
      photos.map((p) => p.bytes.buffer as ArrayBuffer),
      { reserved: true },
    )) as { handle: number; count: number };
    const subject = new WorkerSubject(this, slot, generation, handle, count);
    this.#placement.pin(slot, generation, handle);
    this.#released.register(subject, { slot, generation, handle }, subject);
    return subject;
  }

  async ground(subject: WorkerSubject, context: SubjectContext = {}, options: GroundOptions = {}): Promise<Grounding> {
    const slot = this.#slotOf(subject);
    const { signal, onText, ...rest } = options;
    return (await this.#send(
      slot,
      { op: 'ground', id: 0, handle: subject.handle, context, options: dropFunctions(rest), wantText: !!onText },
      [],
      { signal, onText },
    )) as Grounding;
  }

  async generate(request: EngineGenerateRequest<WorkerSubject>): Promise<Generation> {
    const { scoring: _, ...generation } = await this.#generate(request);
    return generation;
  }

  /**
   * A group drawn and scored in the same worker: DINO or CLIP-I fidelity against the subject's photos
   * (kept in that worker since prepareImages), CLIP-T alignment, the copy guard (see
   * scoring/ranking.ts), each image tower over the group in one batch. The images cross to this
   * thread once, with their scores; a scorer that fails leaves them with why.
   */
  async generateScored(request: EngineGenerateRequest<WorkerSubject> & { subject: WorkerSubject }, scorer: EmbeddingScorerKind): Promise<ScoredGeneration> {
    const generation = await this.#generate(request, scorer);
    if (!generation.scoring) throw new Error('engine worker: a scored generate came back without its scores');
    return { ...generation, scoring: generation.scoring };
  }

  async #generate(request: EngineGenerateRequest<WorkerSubject>, scorer?: EmbeddingScorerKind): Promise<Generation & { scoring?: DrawnGroupScores }> {
    const { subject, signal, onStep, ...rest } = request;
    const slot = subject ? this.#slotOf(subject) : await this.#placement.pick();
    const wire = (await this.#send(
      slot,
      { op: 'generate', id: 0, handle: subject ? subject.handle : null, request: dropFunctions(rest) as WireGenerateRequest, wantSteps: !!onStep, ...(scorer ? { scorer } : {}) },
      [],
      { signal, onStep, reserved: !subject },
    )) as WireGeneration;
    return {
      images: wire.images.map((i) => ({
        data: Buffer.from(i.data),
        format: i.format,
        width: i.width,
        height: i.height,
        imageTokens: i.imageTokens,
        seed: i.seed,
      })),
      promptTokens: wire.promptTokens,
      timings: wire.timings,
      ...(wire.scoring ? { scoring: wire.scoring } : {}),
    };
  }

  /** The self-judge on the subject's worker (its caches hold the subject's prompt prefix). */
  async judge(subject: WorkerSubject, candidates: readonly Uint8Array[], prompt: string, options: { signal?: AbortSignal } = {}): Promise<SelfJudgement> {
    const slot = this.#slotOf(subject);
    const copies = candidates.map((b) => new Uint8Array(b));
    return (await this.#send(
      slot,
      { op: 'judge', id: 0, handle: subject.handle, candidates: copies, prompt },
      copies.map((b) => b.buffer as ArrayBuffer),
      { signal: options.signal },
    )) as SelfJudgement;
  }

  /** Frees the subject's pixels in its worker (also done when the subject is garbage collected). */
  releaseImages(subject: WorkerSubject): void {
    if (subject.engine !== this || subject.released) return;
    subject.released = true;
    this.#released.unregister(subject);
    this.#release(subject);
  }

  /**
   * Test-only (needs `testHooks`): kills worker `index` between two model steps, the way a real
   * failure would: 'exit' (process.exit in the worker), 'throw' (an uncaught error), 'terminate'
   * (worker.terminate() from here while the worker spins in JS), 'hang' (the worker spins in JS until
   * the supervisor notices that it stopped answering and replaces it).
   *
   * Never worker.terminate() an engine worker that may be inside session.run(): onnxruntime-node
   * then throws a C++ exception nobody catches, and the whole process aborts.
   */
  simulateCrash(index: number, mode: 'terminate' | CrashMode): void {
    this.#threads.simulateCrash(index, mode);
  }

  /**
   * Ends every worker: each cancels its runs (they reject with CancelledError, or EngineClosedError
   * if the worker is gone first), releases its sessions and exits. Later calls get EngineClosedError.
   */
  async close(): Promise<void> {
    await Promise.all([this.#threads.close(), this.#upscaler?.close()]);
  }

  // ---- internals -------------------------------------------------------------------------------

  #loaded(): EngineInfo {
    const info = this.#threads.info;
    if (!info) throw new Error('WorkerEngine has not loaded a bundle');
    return info;
  }

  /** The slot of a subject prepared by this engine and not released. */
  #slotOf(subject: WorkerSubject): Slot {
    if (!(subject instanceof WorkerSubject) || subject.engine !== this) throw new TypeError('subject was not prepared by this engine');
    if (subject.released) throw new Error('subject was released');
    return this.#placement.home(subject);
  }

  /** Sends a call to the slot's thread; `reserved`: the slot was picked for it (see Placement.pick). */
  #send(slot: Slot, msg: Extract<ToWorker, { id: number }>, transfer: ArrayBuffer[], hooks: CallHooks & { reserved?: boolean } = {}): Promise<unknown> {
    const { reserved, ...call } = hooks;
    if (reserved) this.#placement.unreserve(slot);
    return slot.requests.send(msg, transfer, call);
  }

  #release(held: { slot: Slot; generation: number; handle: number }): void {
    if (this.#placement.unpin(held)) this.#threads.post(held.slot, { op: 'release', handle: held.handle });
  }
}

/** Request fields for the wire: callbacks cannot be cloned (and are handled on this side). */
function dropFunctions<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== 'function')) as T;
}
