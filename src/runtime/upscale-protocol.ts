import type { WireError } from './wire-error.ts';
import type { Device } from '../model-kinds.ts';

/** Messages between UpscaleThread (main thread) and upscale-thread-main.ts. Images travel encoded, as transferred buffers. */

export interface UpscaleWorkerInit {
  dir: string;
  threads?: number;
  device?: Device;
  memoryBudgetMb?: number;
}

export type ToUpscaleWorker =
  | { op: 'upscale'; id: number; image: Uint8Array }
  | { op: 'cancel'; id: number }
  | { op: 'close' };

export interface WireUpscale {
  /** The upscaled image as PNG (transferred). */
  data: ArrayBuffer;
  width: number;
  height: number;
  tiles: number;
  ms: number;
}

export type FromUpscaleWorker =
  | { type: 'ready'; scale: number }
  | { type: 'load_failed'; error: WireError }
  | { type: 'tile'; id: number; done: number; total: number }
  | { type: 'result'; id: number; value: WireUpscale }
  | { type: 'error'; id: number; error: WireError };
