import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { LRUCache } from 'lru-cache';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Device } from '../bundle/load-bundle.ts';
import type { GraphDtype, GraphName } from '../bundle/contract.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { PreprocessMode } from '../images/preprocess.ts';
import type { Generation, GroundOptions, Grounding } from '../pipeline/personalizer.ts';
import type { SelfJudgement } from '../pipeline/self-judge.ts';
import type { GroupScores } from '../scoring/ranking.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { ModelShape } from '../model/janus-model.ts';
import { EngineClosedError, EngineCrashedError, EngineStuckError, type EngineGenerateRequest, type ImageEngine, type PhotoFile } from './image-engine.ts';
import {
  fromWireError,
  type CrashMode,
  type EngineInfo,
  type FromWorker,
  type ToWorker,
  type WireGeneration,
  type WireGenerateRequest,
  type WorkerInit,
} from './protocol.ts';

const BOOTSTRAP = new URL('./bootstrap.mjs', import.meta.url);

/** pino's Logger fits. */
export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WorkerEngineOptions {
  modelDir: string;
  device?: Device;
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
  /** Engine workers, each with its own sessions (one per queue slot). Default 1. */
  workers?: number;
  /**
   * ONNX Runtime intra-op threads per session. Default: ONNX Runtime's choice with one worker; the
   * machine's cores split between workers with more.
   */
  intraOpThreads?: number;
  preprocess?: PreprocessMode;
  /** Per worker: vision features and prompt-prefix KV kept for known subjects, MiB (defaults 256 and 4096). */
  visionCacheMb?: number;
  prefixCacheMb?: number;
  /** Per worker: most decoder rows drawn together by concurrent requests (2 per image with guidance). Default 8. */
  maxBatchRows?: number;
  /** Folder of the embedding scorers (SCORER_DIR); each worker loads them at its first scoreGroup. */
  scorerDir?: string;
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
  /** Test-only: let simulateCrash() kill a worker. */
  testHooks?: boolean;
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

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onStep?: (done: number, total: number) => void;
  onText?: (text: string) => void;
  signal?: AbortSignal;
  /** Removes the abort listener and grace timer. */
  cleanup(): void;
  /** The caller was already answered (its callback threw); the worker's answer is dropped. */
  settled: boolean;
}

type SlotState = 'starting' | 'ready' | 'down' | 'closed';

/** @internal One worker position: its current thread, requests and prepared subjects. */
export class Slot {
  worker: Worker | null = null;
  /** Bumped at every (re)start; subjects and messages of an older thread are void. */
  generation = 0;
  state: SlotState = 'down';
  readonly pending = new Map<number, Pending>();
  readonly handles = new Set<number>();
  /** Picked for a request that is not sent yet. */
  reserved = 0;
  /** Consecutive crashes or failed starts, for the back-off. */
  crashes = 0;
  restarts = 0;
  startedAt = 0;
  restartTimer: NodeJS.Timeout | undefined;
  lastError: Error | undefined;
  loadError: Error | undefined;
  startWaiter: { resolve(): void; reject(err: Error): void } | undefined;
  /** Test-only: terminate the worker once it reports that it hangs. */
  terminateWhenHanging = false;
  /** When the unanswered heartbeat was sent (undefined: none outstanding). */
  pingSentAt: number | undefined;
  /** Written by the worker: native runs it is inside now, -1 when it cannot tell (see countNativeRuns). */
  nativeRuns = new Int32Array(new SharedArrayBuffer(4));
  exited: Promise<void> = Promise.resolve();

  constructor(readonly index: number) {}

  get load(): number {
    return this.pending.size + this.handles.size + this.reserved;
  }
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
 */
export class WorkerEngine implements ImageEngine<WorkerSubject> {
  #slots: Slot[];
  #options: WorkerEngineOptions;
  #init: WorkerInit;
  #info: EngineInfo | undefined;
  #nextId = 0;
  #rr = 0;
  /** Which worker last prepared these photos: its caches hold their features and prompt prefix. */
  #affinity = new LRUCache<string, number>({ max: 4096 });
  #closing = false;
  #started = false;
  #fallbacks = new Set<string>();
  /** Requests waiting for any worker to be ready. */
  #readyWaiters: { resolve(): void; reject(err: Error): void }[] = [];
  /** Replaced workers still inside a native run: they exit when it returns (never terminated under it). */
  #orphans = new Set<Worker>();
  #supervisor: NodeJS.Timeout | undefined;
  #released = new FinalizationRegistry<{ slot: Slot; generation: number; handle: number }>((held) => this.#release(held));

  private constructor(options: WorkerEngineOptions) {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be a positive integer');
    this.#options = options;
    const intraOpThreads = options.intraOpThreads ?? (workers > 1 ? Math.max(1, Math.floor(availableParallelism() / workers)) : undefined);
    this.#init = {
      modelDir: options.modelDir,
      device: options.device,
      dtypes: options.dtypes,
      intraOpThreads,
      preprocess: options.preprocess,
      visionCacheMb: options.visionCacheMb,
      prefixCacheMb: options.prefixCacheMb,
      maxBatchRows: options.maxBatchRows,
      scorerDir: options.scorerDir,
      testHooks: options.testHooks,
    };
    this.#slots = Array.from({ length: workers }, (_, i) => new Slot(i));
  }

  /** Starts the workers and waits until each has loaded the bundle; throws the load error (e.g. BundleError). */
  static async start(options: WorkerEngineOptions): Promise<WorkerEngine> {
    const engine = new WorkerEngine(options);
    const started = await Promise.allSettled(engine.#slots.map((slot) => engine.#startSlot(slot)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await engine.close();
      throw failed.reason;
    }
    engine.#started = true;
    engine.#startSupervisor();
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

  get workers(): number {
    return this.#slots.length;
  }

  status(): WorkerStatus[] {
    return this.#slots.map((s) => ({
      index: s.index,
      state: s.state,
      threadId: s.worker?.threadId ?? null,
      pending: s.pending.size,
      subjects: s.handles.size,
      restarts: s.restarts,
      nativeRuns: Atomics.load(s.nativeRuns, 0),
    }));
  }

  async prepareImages(inputs: PhotoFile[], limits?: Partial<ImageLimits>): Promise<WorkerSubject> {
    const key = photosKey(inputs);
    const slot = await this.#pick(this.#affinity.get(key));
    this.#affinity.set(key, slot.index);
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
    if (slot.generation === generation) slot.handles.add(handle);
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
    const { subject, signal, onStep, ...rest } = request;
    const slot = subject ? this.#slotOf(subject) : await this.#pick();
    const wire = (await this.#send(
      slot,
      { op: 'generate', id: 0, handle: subject ? subject.handle : null, request: dropFunctions(rest) as WireGenerateRequest, wantSteps: !!onStep },
      [],
      { signal, onStep, reserved: !subject },
    )) as WireGeneration;
    return {
      images: wire.images.map((i) => ({
        data: Buffer.from(i.data),
        format: i.format,
        width: i.width,
        height: i.height,
        imageTokens: Array.from(i.tokens),
        seed: i.seed,
      })),
      promptTokens: wire.promptTokens,
      timings: wire.timings,
    };
  }

  /**
   * Scores and orders a group of candidates (encoded images) with the embedding scorers, in the
   * least busy worker: DINO or CLIP-I fidelity against the subject photos, CLIP-T alignment, the
   * copy guard (see scoring/ranking.ts). Each image tower runs the group's images in one batch.
   */
  async scoreGroup(
    scorer: 'dino' | 'clip',
    args: { candidates: readonly Uint8Array[]; subjectPhotos: readonly Uint8Array[]; prompt: string; signal?: AbortSignal },
  ): Promise<GroupScores> {
    const slot = await this.#pick();
    const candidates = args.candidates.map((b) => new Uint8Array(b));
    const photos = args.subjectPhotos.map((b) => new Uint8Array(b));
    return (await this.#send(
      slot,
      { op: 'scoreGroup', id: 0, scorer, candidates, photos, prompt: args.prompt },
      [...candidates, ...photos].map((b) => b.buffer as ArrayBuffer),
      { signal: args.signal, reserved: true },
    )) as GroupScores;
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
    const slot = this.#slots[index];
    if (!slot?.worker) throw new Error(`no engine worker ${index}`);
    if (!this.#options.testHooks) throw new Error('simulateCrash needs the testHooks option');
    if (mode === 'terminate') slot.terminateWhenHanging = true;
    this.#post(slot, { op: 'crash', mode: mode === 'terminate' ? 'hang' : mode });
  }

  /**
   * Ends every worker: each cancels its runs (they reject with CancelledError, or EngineClosedError
   * if the worker is gone first), releases its sessions and exits. Later calls get EngineClosedError.
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      clearInterval(this.#supervisor);
      for (const w of this.#readyWaiters.splice(0)) w.reject(new EngineClosedError());
      for (const orphan of this.#orphans) orphan.postMessage({ op: 'close' } satisfies ToWorker);
      for (const slot of this.#slots) {
        clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (!worker) {
          slot.state = 'closed';
          continue;
        }
        this.#post(slot, { op: 'close' });
        // The worker stops its runs and exits by itself (within a few seconds). Terminating it from
        // here is the last resort: mid-run it aborts the process (see simulateCrash).
        const timer = setTimeout(() => void worker.terminate(), 60_000);
        timer.unref();
        slot.exited = slot.exited.finally(() => clearTimeout(timer));
      }
    }
    await Promise.all(this.#slots.map((s) => s.exited));
  }

  // ---- internals -------------------------------------------------------------------------------

  #loaded(): EngineInfo {
    if (!this.#info) throw new Error('WorkerEngine has not loaded a bundle');
    return this.#info;
  }

  #log(level: 'info' | 'warn' | 'error', obj: object, msg: string): void {
    this.#options.logger?.[level](obj, msg);
  }

  #startSlot(slot: Slot): Promise<void> {
    slot.generation++;
    slot.state = 'starting';
    slot.lastError = undefined;
    slot.loadError = undefined;
    slot.terminateWhenHanging = false;
    slot.pingSentAt = undefined;
    slot.nativeRuns = new Int32Array(new SharedArrayBuffer(4));
    const generation = slot.generation;
    const worker = new Worker(BOOTSTRAP, {
      workerData: { ...this.#init, nativeRuns: slot.nativeRuns.buffer as SharedArrayBuffer } satisfies WorkerInit,
      resourceLimits: this.#options.resourceLimits,
      name: `engine-${slot.index}`,
    });
    slot.worker = worker;
    let exited!: () => void;
    slot.exited = new Promise<void>((resolve) => (exited = resolve));
    const started = new Promise<void>((resolve, reject) => (slot.startWaiter = { resolve, reject }));
    worker.on('message', (msg: FromWorker) => {
      if (slot.generation === generation) this.#onMessage(slot, msg);
    });
    worker.on('error', (err) => {
      if (slot.generation === generation) slot.lastError = err;
    });
    worker.on('exit', (code) => {
      if (slot.generation === generation) this.#onExit(slot, code);
      exited();
    });
    return started;
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'ready':
        this.#info ??= msg.info;
        slot.state = 'ready';
        slot.startedAt = performance.now();
        slot.startWaiter?.resolve();
        slot.startWaiter = undefined;
        for (const w of this.#readyWaiters.splice(0)) w.resolve();
        break;
      case 'hanging':
        if (slot.terminateWhenHanging) void slot.worker?.terminate();
        break;
      case 'pong':
        slot.pingSentAt = undefined;
        break;
      case 'load_failed':
        slot.loadError = fromWireError(msg.error);
        break;
      case 'fallback':
        if (!this.#fallbacks.has(msg.reason)) {
          this.#fallbacks.add(msg.reason);
          this.#options.onFallback?.(msg.reason);
        }
        break;
      case 'step':
      case 'text': {
        const p = slot.pending.get(msg.id);
        if (!p || p.settled || p.signal?.aborted) break;
        try {
          if (msg.type === 'step') p.onStep?.(msg.done, msg.total);
          else p.onText?.(msg.text);
        } catch (err) {
          // As in-process: a throwing callback ends the request with its error.
          p.settled = true;
          p.reject(err instanceof Error ? err : new Error(String(err)));
          this.#post(slot, { op: 'cancel', id: msg.id });
        }
        break;
      }
      case 'result':
      case 'error': {
        const p = slot.pending.get(msg.id);
        if (!p) break;
        slot.pending.delete(msg.id);
        p.cleanup();
        if (msg.type === 'result') slot.crashes = 0;
        if (p.settled) break;
        p.settled = true;
        if (msg.type === 'result') p.resolve(msg.value);
        else p.reject(fromWireError(msg.error));
        break;
      }
    }
  }

  #onExit(slot: Slot, code: number): void {
    const wasStarting = slot.state === 'starting';
    slot.worker = null;
    this.#failRequests(slot, this.#closing ? new EngineClosedError() : new EngineCrashedError());

    if (this.#closing) {
      slot.state = 'closed';
      slot.startWaiter?.reject(new EngineClosedError());
      slot.startWaiter = undefined;
      return;
    }
    slot.state = 'down';
    const cause = slot.loadError ?? slot.lastError;
    if (wasStarting) {
      const err = slot.loadError ?? new Error(`engine worker ${slot.index} exited with code ${code} while loading${slot.lastError ? `: ${slot.lastError.message}` : ''}`);
      slot.startWaiter?.reject(err);
      slot.startWaiter = undefined;
      // Nothing can run until a worker is up: requests waiting for one fail instead of hanging.
      if (!this.#slots.some((s) => s.state === 'ready')) {
        for (const w of this.#readyWaiters.splice(0)) w.reject(new EngineCrashedError('The image engine is restarting after a crash; please try again in a minute.'));
      }
      // The first start is WorkerEngine.start's to report; restarts go on with a back-off.
      if (!this.#started) return;
    } else if (performance.now() - slot.startedAt > 60_000) {
      slot.crashes = 0; // It had been healthy for a while: this crash starts a new series.
    }
    this.#restartLater(slot, code, cause, wasStarting ? 'engine worker failed to start; retrying' : 'engine worker died; restarting it');
  }

  /** Fails every request in flight on the slot; the prepared subjects there are gone too. */
  #failRequests(slot: Slot, failure: Error): void {
    slot.handles.clear();
    for (const [, p] of slot.pending) {
      p.cleanup();
      if (!p.settled) {
        p.settled = true;
        p.reject(failure);
      }
    }
    slot.pending.clear();
  }

  #restartLater(slot: Slot, code: number | undefined, cause: Error | undefined, message: string): void {
    slot.crashes++;
    slot.restarts++;
    const initial = this.#options.restartDelayMs?.initial ?? 1000;
    const max = this.#options.restartDelayMs?.max ?? 60_000;
    const delayMs = Math.min(max, initial * 2 ** (slot.crashes - 1));
    this.#log(
      'error',
      { worker: slot.index, exitCode: code, err: cause ? { name: cause.name, message: cause.message } : undefined, crashes: slot.crashes, restartInMs: delayMs },
      message,
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#closing) return;
      this.#startSlot(slot).then(
        () => this.#log('info', { worker: slot.index, restarts: slot.restarts }, 'engine worker restarted'),
        () => {}, // Logged and retried by #onExit.
      );
    }, delayMs);
    slot.restartTimer.unref();
  }

  /**
   * The heartbeat: every ready worker is pinged; one with requests in flight whose ping has gone
   * unanswered for stallMs is replaced. A healthy worker answers between two runs.
   */
  #startSupervisor(): void {
    const stallMs = this.#options.stallMs ?? 120_000;
    const everyMs = Math.max(20, Math.min(5000, stallMs / 4));
    this.#supervisor = setInterval(() => {
      const now = performance.now();
      for (const slot of this.#slots) {
        if (slot.state !== 'ready' || !slot.worker) continue;
        if (slot.pingSentAt === undefined) {
          slot.pingSentAt = now;
          this.#post(slot, { op: 'ping' });
        } else if (slot.pending.size > 0 && now - slot.pingSentAt > stallMs) {
          this.#replaceStuck(slot, `no heartbeat for ${Math.round(now - slot.pingSentAt)} ms`);
        }
      }
    }, everyMs);
    this.#supervisor.unref();
  }

  /**
   * Gives up on a worker that stopped answering: its requests fail with EngineStuckError, so the jobs
   * waiting on them end and the queue moves on, and a fresh worker takes its place at once. The old
   * thread is terminated if it is stuck in JavaScript; inside a native run terminating it would abort
   * the process, so it is left to exit by itself when the run returns (it has been told to close).
   */
  #replaceStuck(slot: Slot, why: string): void {
    const worker = slot.worker;
    if (!worker || this.#closing || slot.state !== 'ready') return;
    const nativeRuns = Atomics.load(slot.nativeRuns, 0);
    const inNativeRun = nativeRuns !== 0;
    this.#log('error', { worker: slot.index, why, inNativeRun, requests: slot.pending.size }, 'engine worker stopped responding; replacing it');
    slot.state = 'down';
    slot.worker = null;
    this.#failRequests(slot, new EngineStuckError());
    if (inNativeRun) {
      worker.postMessage({ op: 'close' } satisfies ToWorker);
      worker.unref();
      this.#orphans.add(worker);
      worker.once('exit', () => this.#orphans.delete(worker));
    } else {
      void worker.terminate();
    }
    slot.restarts++;
    this.#startSlot(slot).then(
      () => this.#log('info', { worker: slot.index, restarts: slot.restarts }, 'engine worker replaced'),
      () => {}, // Logged and retried by #onExit.
    );
  }

  /**
   * The least busy ready worker (ties in turn), reserved for a request the caller sends next (so
   * requests picked in the same tick spread); waits for one while none is up. A `preferred` worker
   * (the one whose caches know the photos) is taken unless it is busier than that by two or more.
   */
  async #pick(preferred?: number): Promise<Slot> {
    for (;;) {
      if (this.#closing) throw new EngineClosedError();
      const n = this.#slots.length;
      let best: Slot | undefined;
      for (let k = 0; k < n; k++) {
        const slot = this.#slots[(this.#rr + k) % n];
        if (slot.state === 'ready' && (!best || slot.load < best.load)) best = slot;
      }
      const favourite = preferred === undefined ? undefined : this.#slots[preferred];
      if (best && favourite?.state === 'ready' && favourite.load <= best.load + 1) best = favourite;
      if (best) {
        this.#rr = (best.index + 1) % n;
        best.reserved++;
        return best;
      }
      await new Promise<void>((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
    }
  }

  #slotOf(subject: WorkerSubject): Slot {
    if (!(subject instanceof WorkerSubject) || subject.engine !== this) throw new TypeError('subject was not prepared by this engine');
    if (subject.released) throw new Error('subject was released');
    if (this.#closing) throw new EngineClosedError();
    const slot = subject.slot;
    // Its worker died since (the subject's pixels with it): this job cannot go on.
    if (slot.generation !== subject.generation || slot.state !== 'ready') throw new EngineCrashedError();
    return slot;
  }

  #post(slot: Slot, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    slot.worker?.postMessage(msg, transfer);
  }

  #send(
    slot: Slot,
    msg: Extract<ToWorker, { id: number }>,
    transfer: ArrayBuffer[],
    hooks: { signal?: AbortSignal; onStep?: (done: number, total: number) => void; onText?: (text: string) => void; reserved?: boolean } = {},
  ): Promise<unknown> {
    if (hooks.reserved) slot.reserved--;
    const id = ++this.#nextId;
    const { signal } = hooks;
    return new Promise((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const worker = slot.worker;
      const onAbort = () => {
        if (!slot.pending.has(id)) return;
        this.#post(slot, { op: 'cancel', id });
        graceTimer = setTimeout(() => {
          if (!slot.pending.has(id) || slot.worker !== worker) return;
          this.#replaceStuck(slot, `still busy ${this.#options.cancelGraceMs ?? 60_000} ms after a cancel`);
        }, this.#options.cancelGraceMs ?? 60_000);
        graceTimer.unref();
      };
      const pending: Pending = {
        resolve,
        reject,
        onStep: hooks.onStep,
        onText: hooks.onText,
        signal,
        settled: false,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          clearTimeout(graceTimer);
        },
      };
      if (!worker) {
        reject(new EngineCrashedError());
        return;
      }
      slot.pending.set(id, pending);
      try {
        worker.postMessage({ ...msg, id, aborted: signal?.aborted ?? false }, transfer);
      } catch (err) {
        // Could not be cloned (a bug in the caller): nothing was sent.
        slot.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (signal && !signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(held: { slot: Slot; generation: number; handle: number }): void {
    const { slot, generation, handle } = held;
    if (slot.generation !== generation || !slot.handles.delete(handle)) return;
    this.#post(slot, { op: 'release', handle });
  }
}

/** Request fields for the wire: callbacks cannot be cloned (and are handled on this side). */
function dropFunctions<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== 'function')) as T;
}

/** Photos' identity for worker affinity (the same subject's photos arrive as the same bytes). */
function photosKey(inputs: PhotoFile[]): string {
  const h = createHash('sha256');
  for (const p of inputs) h.update(p.bytes).update(String(p.bytes.byteLength));
  return h.digest('base64url');
}
