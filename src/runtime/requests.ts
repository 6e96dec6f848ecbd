import type { Worker } from 'node:worker_threads';
import type { ProgressHooks } from '../decoding/progress.ts';
import { EngineCrashedError } from './engine-errors.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { fromWireError } from './wire-error.ts';

/**
 * Message passing with one engine worker thread: the calls in flight to it, keyed by id. A call is
 * posted with its transfers, streams its steps or text back to its callbacks, and ends with the
 * worker's result or error (or with the failure given when its thread dies). An aborted call is
 * cancelled in the worker; one still unanswered after the grace time is reported as ignored.
 */

/** What a caller hands with a call: its cancel signal and progress callbacks (grounding also streams its text). */
export interface CallHooks extends ProgressHooks {
  onText?: (text: string) => void;
}

export interface RequestsOptions {
  /** The thread serving the calls now (null while there is none): calls and cancels go to it. */
  thread(): Worker | null;
  /** How long a cancelled call may stay unanswered before onCancelIgnored (ms). */
  cancelGraceMs: number;
  /** A cancelled call was still unanswered after cancelGraceMs, on the thread it was sent to. */
  onCancelIgnored(): void;
}

/** A message of the worker's that belongs to one call. */
export type CallMessage = Extract<FromWorker, { id: number }>;

interface Pending extends CallHooks {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** Removes the abort listener and grace timer. */
  cleanup(): void;
  /** The caller was already answered (its callback threw); the worker's answer is dropped. */
  settled: boolean;
}

/** The calls in flight to one worker thread (across its restarts: ids never repeat). */
export class Requests {
  readonly #pending = new Map<number, Pending>();
  readonly #options: RequestsOptions;
  #nextId = 0;

  constructor(options: RequestsOptions) {
    this.#options = options;
  }

  /** Calls sent and not answered yet. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Posts `msg` (its id filled in) with `transfer` to the current thread; resolves with the worker's
   * result. Fails at once with EngineCrashedError when there is no thread.
   */
  send(msg: Extract<ToWorker, { id: number }>, transfer: ArrayBuffer[], hooks: CallHooks = {}): Promise<unknown> {
    const id = ++this.#nextId;
    const { signal } = hooks;
    return new Promise((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const worker = this.#options.thread();
      const onAbort = () => {
        if (!this.#pending.has(id)) return;
        this.#post({ op: 'cancel', id });
        graceTimer = setTimeout(() => {
          if (!this.#pending.has(id) || this.#options.thread() !== worker) return;
          this.#options.onCancelIgnored();
        }, this.#options.cancelGraceMs);
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
      this.#pending.set(id, pending);
      try {
        worker.postMessage({ ...msg, id, aborted: signal?.aborted ?? false }, transfer);
      } catch (err) {
        // Could not be cloned (a bug in the caller): nothing was sent.
        this.#pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (signal && !signal.aborted) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A step, text, result or error from the worker, handed to its call. Returns true when it ended a
   * call of this table (a result or an error), false when it belongs to none (already failed).
   */
  receive(msg: CallMessage): boolean {
    switch (msg.type) {
      case 'step':
      case 'text': {
        const p = this.#pending.get(msg.id);
        if (!p || p.settled || p.signal?.aborted) return false;
        try {
          if (msg.type === 'step') p.onStep?.(msg.done, msg.total);
          else p.onText?.(msg.text);
        } catch (err) {
          // As in-process: a throwing callback ends the request with its error.
          p.settled = true;
          p.reject(err instanceof Error ? err : new Error(String(err)));
          this.#post({ op: 'cancel', id: msg.id });
        }
        return false;
      }
      case 'result':
      case 'error': {
        const p = this.#pending.get(msg.id);
        if (!p) return false;
        this.#pending.delete(msg.id);
        p.cleanup();
        if (!p.settled) {
          p.settled = true;
          if (msg.type === 'result') p.resolve(msg.value);
          else p.reject(fromWireError(msg.error));
        }
        return true;
      }
    }
  }

  /** Fails every call in flight with `failure` (their thread is gone). */
  failAll(failure: Error): void {
    for (const [, p] of this.#pending) {
      p.cleanup();
      if (!p.settled) {
        p.settled = true;
        p.reject(failure);
      }
    }
    this.#pending.clear();
  }

  #post(msg: ToWorker): void {
    this.#options.thread()?.postMessage(msg);
  }
}
