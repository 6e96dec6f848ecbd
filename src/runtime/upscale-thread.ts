import { Worker } from 'node:worker_threads';
import { CancelledError } from '../errors.ts';
import { EngineClosedError, EngineCrashedError } from './engine-errors.ts';
import { fromWireError } from './wire-error.ts';
import type { FromUpscaleWorker, ToUpscaleWorker, UpscaleWorkerInit, WireUpscale } from './upscale-protocol.ts';

const BOOTSTRAP = new URL('./upscale-bootstrap.mjs', import.meta.url);

export interface UpscaleResult {
  /** PNG bytes. */
  data: Uint8Array;
  width: number;
  height: number;
  tiles: number;
  ms: number;
}

interface Pending {
  resolve: (r: UpscaleResult) => void;
  reject: (err: Error) => void;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The upscaler in a worker thread of its own (upscale-thread-main.ts), never on the main thread and never
 * in an engine worker: an upscale's runs take seconds each, far longer than a generation step, and an
 * engine worker's event loop is held for the whole of every run it makes, so sharing that thread
 * would stall the other jobs' steps. Here they only share the cores.
 *
 * A worker that dies (an uncaught error, killed) fails what it was doing with EngineCrashedError and
 * is started again at the next request. An ONNX Runtime allocation failure on a tile is an ordinary
 * error inside the worker ('out_of_memory'): the request fails with it and the worker lives.
 */
export class UpscaleThread {
  #worker: Worker | null = null;
  #ready: Promise<number> | null = null;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #scale = 0;

  private constructor(private readonly init: UpscaleWorkerInit) {}

  /** Starts the thread and waits until the model is loaded; throws the load error (BundleError 'upscaler_invalid'). */
  static async start(init: UpscaleWorkerInit): Promise<UpscaleThread> {
    const thread = new UpscaleThread(init);
    await thread.#start();
    return thread;
  }

  /** Output pixels per input pixel along each side (the model's config.json upscale). */
  get scale(): number {
    return this.#scale;
  }

  async upscale(image: Uint8Array, o: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<UpscaleResult> {
    if (this.#closed) throw new EngineClosedError();
    o.signal?.throwIfAborted();
    await this.#start();
    const worker = this.#worker;
    if (!worker) throw new EngineCrashedError('The upscaler is restarting after a crash; please try again in a minute.');
    const id = this.#nextId++;
    const copy = new Uint8Array(image);
    return new Promise<UpscaleResult>((resolve, reject) => {
      const onAbort = () => worker.postMessage({ op: 'cancel', id } satisfies ToUpscaleWorker);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => o.signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        resolve: (r) => (settle(), resolve(r)),
        reject: (e) => (settle(), reject(o.signal?.aborted && !(e instanceof EngineCrashedError) ? new CancelledError() : e)),
        onProgress: o.onProgress,
      });
      worker.postMessage({ op: 'upscale', id, image: copy } satisfies ToUpscaleWorker, [copy.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ op: 'close' } satisfies ToUpscaleWorker);
    const timer = setTimeout(() => void worker.terminate(), 30_000);
    timer.unref();
    await exited;
    clearTimeout(timer);
  }

  #start(): Promise<number> {
    if (this.#ready) return this.#ready;
    const worker = new Worker(BOOTSTRAP, { workerData: this.init, name: 'upscale' });
    this.#worker = worker;
    let loadError: Error | undefined;
    this.#ready = new Promise<number>((resolve, reject) => {
      worker.on('message', (msg: FromUpscaleWorker) => {
        switch (msg.type) {
          case 'ready':
            this.#scale = msg.scale;
            resolve(msg.scale);
            break;
          case 'load_failed':
            loadError = fromWireError(msg.error);
            break;
          case 'tile':
            this.#pending.get(msg.id)?.onProgress?.(msg.done, msg.total);
            break;
          case 'result':
            this.#settle(msg.id, msg.value);
            break;
          case 'error':
            this.#settle(msg.id, fromWireError(msg.error));
            break;
        }
      });
      worker.on('error', (err) => (loadError ??= err));
      worker.on('exit', (code) => {
        if (this.#worker === worker) {
          this.#worker = null;
          this.#ready = null;
        }
        reject(loadError ?? new Error(`upscale worker exited with code ${code} while loading`));
        const failure = this.#closed ? new EngineClosedError() : new EngineCrashedError('The upscaler crashed while upscaling this image; please try again.');
        for (const [id, p] of this.#pending) {
          this.#pending.delete(id);
          p.reject(failure);
        }
      });
    });
    // A failed start is reported to its caller; the next request tries again.
    this.#ready.catch(() => {});
    return this.#ready;
  }

  #settle(id: number, value: WireUpscale | Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (value instanceof Error) p.reject(value);
    else p.resolve({ data: new Uint8Array(value.data), width: value.width, height: value.height, tiles: value.tiles, ms: value.ms });
  }
}
