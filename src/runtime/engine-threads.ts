import { Worker, type ResourceLimits } from 'node:worker_threads';
import { EngineClosedError, EngineCrashedError, EngineStuckError } from './engine-errors.ts';
import { fromWireError } from './wire-error.ts';
import type { CrashMode, EngineInfo, FromWorker, ToWorker, WorkerInit } from './protocol.ts';
import { Requests } from './requests.ts';

/**
 * Thread supervision for WorkerEngine: starts one engine worker thread per slot (MODEL_SLOTS), waits
 * for each to load the bundle, restarts a dead one after a back-off, pings every ready one (the
 * heartbeat) and replaces one that stops answering. Requests to a thread go through its slot's
 * Requests table; this file only fails them when their thread dies.
 */

const BOOTSTRAP = new URL('./bootstrap.mjs', import.meta.url);

/** pino's Logger fits. */
export interface EngineLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface EngineThreadsOptions {
  /** Slots (worker threads), at least 1. */
  workers: number;
  /** workerData of every thread (its native-runs counter is added per thread). */
  init: WorkerInit;
  resourceLimits?: ResourceLimits;
  /** See WorkerEngineOptions. */
  restartDelayMs?: { initial?: number; max?: number };
  cancelGraceMs?: number;
  stallMs?: number;
  onFallback?: (reason: string) => void;
  logger?: EngineLogger;
}

export type SlotState = 'starting' | 'ready' | 'down' | 'closed';

/** @internal One slot: one model worker position, its current thread, the calls to it and the subjects prepared there. */
export class Slot {
  worker: Worker | null = null;
  /** Bumped at every (re)start; subjects and messages of an older thread are void. */
  generation = 0;
  state: SlotState = 'down';
  /** Handles of the subjects prepared in the current thread: they pin it (see Placement) and die with it. */
  readonly handles = new Set<number>();
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

  constructor(
    readonly index: number,
    /** The calls in flight to this slot's thread. */
    readonly requests: Requests,
  ) {}
}

/** The engine's worker threads, one per slot, and their supervision. */
export class EngineThreads {
  readonly slots: readonly Slot[];
  #options: EngineThreadsOptions;
  #info: EngineInfo | undefined;
  #closing = false;
  #started = false;
  #fallbacks = new Set<string>();
  /** Requests waiting for any worker to be ready. */
  #readyWaiters: { resolve(): void; reject(err: Error): void }[] = [];
  /** Replaced workers still inside a native run: they exit when it returns (never terminated under it). */
  #orphans = new Set<Worker>();
  #supervisor: NodeJS.Timeout | undefined;

  constructor(options: EngineThreadsOptions) {
    this.#options = options;
    const cancelGraceMs = options.cancelGraceMs ?? 60_000;
    this.slots = Array.from({ length: options.workers }, (_, i) => {
      const slot: Slot = new Slot(
        i,
        new Requests({
          thread: () => slot.worker,
          cancelGraceMs,
          onCancelIgnored: () => this.#replaceStuck(slot, `still busy ${cancelGraceMs} ms after a cancel`),
        }),
      );
      return slot;
    });
  }

  /** What the first thread to load reported (undefined before any did). */
  get info(): EngineInfo | undefined {
    return this.#info;
  }

  /** close() was called. */
  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Starts every thread and waits until each has loaded the bundle, then the heartbeat. Throws the
   * first load error (e.g. BundleError) after closing the others.
   */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.slots.map((slot) => this.#startSlot(slot)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason;
    }
    this.#started = true;
    this.#startSupervisor();
  }

  /** Resolves when some thread is ready; rejects when none can be (every start failed, or closed). */
  whenAnyReady(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  /** Posts to the slot's current thread (dropped while there is none). */
  post(slot: Slot, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    slot.worker?.postMessage(msg, transfer);
  }

  /** Test-only (needs the worker's testHooks): see WorkerEngine.simulateCrash. */
  simulateCrash(index: number, mode: 'terminate' | CrashMode): void {
    const slot = this.slots[index];
    if (!slot?.worker) throw new Error(`no engine worker ${index}`);
    if (!this.#options.init.testHooks) throw new Error('simulateCrash needs the testHooks option');
    if (mode === 'terminate') slot.terminateWhenHanging = true;
    this.post(slot, { op: 'crash', mode: mode === 'terminate' ? 'hang' : mode });
  }

  /** Tells every thread to close and waits until all have exited; see WorkerEngine.close. */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      clearInterval(this.#supervisor);
      for (const w of this.#readyWaiters.splice(0)) w.reject(new EngineClosedError());
      for (const orphan of this.#orphans) orphan.postMessage({ op: 'close' } satisfies ToWorker);
      for (const slot of this.slots) {
        clearTimeout(slot.restartTimer);
        const worker = slot.worker;
        if (!worker) {
          slot.state = 'closed';
          continue;
        }
        this.post(slot, { op: 'close' });
        // The worker stops its runs and exits by itself (within a few seconds). Terminating it from
        // here is the last resort: mid-run it aborts the process (see WorkerEngine.simulateCrash).
        const timer = setTimeout(() => void worker.terminate(), 60_000);
        timer.unref();
        slot.exited = slot.exited.finally(() => clearTimeout(timer));
      }
    }
    await Promise.all(this.slots.map((s) => s.exited));
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
      workerData: { ...this.#options.init, nativeRuns: slot.nativeRuns.buffer as SharedArrayBuffer } satisfies WorkerInit,
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
      case 'text':
      case 'result':
      case 'error':
        // A result shows the thread healthy: the crash series (for the back-off) ends.
        if (slot.requests.receive(msg) && msg.type === 'result') slot.crashes = 0;
        break;
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
      if (!this.slots.some((s) => s.state === 'ready')) {
        for (const w of this.#readyWaiters.splice(0)) w.reject(new EngineCrashedError('The image engine is restarting after a crash; please try again in a minute.'));
      }
      // The first start is start()'s to report; restarts go on with a back-off.
      if (!this.#started) return;
    } else if (performance.now() - slot.startedAt > 60_000) {
      slot.crashes = 0; // It had been healthy for a while: this crash starts a new series.
    }
    this.#restartLater(slot, code, cause, wasStarting ? 'engine worker failed to start; retrying' : 'engine worker died; restarting it');
  }

  /** Fails every request in flight on the slot; the prepared subjects there are gone too. */
  #failRequests(slot: Slot, failure: Error): void {
    slot.handles.clear();
    slot.requests.failAll(failure);
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
      for (const slot of this.slots) {
        if (slot.state !== 'ready' || !slot.worker) continue;
        if (slot.pingSentAt === undefined) {
          slot.pingSentAt = now;
          this.post(slot, { op: 'ping' });
        } else if (slot.requests.size > 0 && now - slot.pingSentAt > stallMs) {
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
    this.#log('error', { worker: slot.index, why, inNativeRun, requests: slot.requests.size }, 'engine worker stopped responding; replacing it');
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
    const start = () => {
      if (this.#closing) return;
      this.#startSlot(slot).then(
        () => this.#log('info', { worker: slot.index, restarts: slot.restarts }, 'engine worker replaced'),
        () => {}, // Logged and retried by #onExit.
      );
    };
    // On webgpu the old thread may still be inside a device run: a second thread running WebGPU
    // sessions alongside it would crash the process, so the new one starts when the old one is gone.
    if (inNativeRun && this.#options.init.device === 'webgpu') worker.once('exit', start);
    else start();
  }
}
