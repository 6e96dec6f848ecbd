import type { EngineFacts } from '../pipeline/bundle-report.ts';
import type { BundleGraph, Device } from '../bundle/load-bundle.ts';
import type { GraphDtype, GraphName } from '../bundle/contract.ts';
import { BundleError, CancelledError, InputError, UserFacingError } from '../errors.ts';
import { ImageInputError } from '../images/errors.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { PreprocessMode } from '../images/preprocess.ts';
import type { OutputFormat } from '../images/encode.ts';
import type { GenerateRequest, GroundOptions } from '../pipeline/personalizer.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { ModelShape } from '../model/janus-model.ts';

/**
 * Messages between WorkerEngine (main thread) and engine-worker.ts. Everything travels by
 * structured clone; bulk bytes (photos in, encoded images and image tokens out) as transferred
 * ArrayBuffers. Pixels and tensors never leave the worker.
 */

/** workerData of an engine worker. */
export interface WorkerInit {
  modelDir: string;
  device?: Device;
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
  intraOpThreads?: number;
  preprocess?: PreprocessMode;
  /** Subject caches and batching in the worker's Personalizer (see PersonalizerOptions). */
  visionCacheMb?: number;
  prefixCacheMb?: number;
  maxBatchRows?: number;
  /** Folder of the embedding scorers (SCORER_DIR), loaded at the first 'scoreGroup'. */
  scorerDir?: string;
  /** Honour the test-only 'crash' op. */
  testHooks?: boolean;
  /** One Int32: the native ONNX Runtime runs the worker is inside now (see countNativeRuns). */
  nativeRuns?: SharedArrayBuffer;
}

export interface EngineInfo {
  bundle: { dir: string; graphs: Record<GraphName, BundleGraph> };
  device: Device;
  shape: ModelShape;
  /** Why the language model fetches its whole present cache each step (no KV-append form), if it does. */
  kvAppendReason?: string;
  /** The loaded model's facts for the bundle report (attention form, KV strategy, ...). */
  facts: EngineFacts;
}

/** A generate request without its callbacks, signal or subject (which is a handle here). */
export type WireGenerateRequest = Omit<GenerateRequest, 'subject' | 'signal' | 'onStep'>;
export type WireGroundOptions = Omit<GroundOptions, 'signal' | 'onText'>;

/** Test-only ways to die: process.exit, an uncaught error, or spin in JS (until the supervisor replaces the worker). */
export type CrashMode = 'exit' | 'throw' | 'hang';

export type ToWorker =
  | { op: 'prepareImages'; id: number; photos: { bytes: Uint8Array; name?: string }[]; limits?: Partial<ImageLimits>; aborted?: boolean }
  | { op: 'ground'; id: number; handle: number; context: SubjectContext; options: WireGroundOptions; wantText: boolean; aborted?: boolean }
  | { op: 'generate'; id: number; handle: number | null; request: WireGenerateRequest; wantSteps: boolean; aborted?: boolean }
  | { op: 'scoreGroup'; id: number; scorer: 'dino' | 'clip'; candidates: Uint8Array[]; photos: Uint8Array[]; prompt: string; aborted?: boolean }
  | { op: 'judge'; id: number; handle: number; candidates: Uint8Array[]; prompt: string; aborted?: boolean }
  | { op: 'cancel'; id: number }
  | { op: 'release'; handle: number }
  | { op: 'close' }
  /** Answered with 'pong' as soon as the worker's event loop is free: the supervisor's heartbeat. */
  | { op: 'ping' }
  | { op: 'crash'; mode: CrashMode };

export interface WireImage {
  /** The encoded image (transferred). */
  data: ArrayBuffer;
  format: OutputFormat;
  width: number;
  height: number;
  /** Image tokens (transferred). */
  tokens: Int32Array;
  seed: number;
}

export interface WireGeneration {
  images: WireImage[];
  promptTokens: number;
  timings: { tokensMs: number; decodeMs: number; imageTokensPerSec: number };
}

export type FromWorker =
  | { type: 'ready'; info: EngineInfo }
  | { type: 'load_failed'; error: WireError }
  | { type: 'fallback'; reason: string }
  /** Test-only: the worker is spinning in JS now (a safe moment for worker.terminate()). */
  | { type: 'hanging' }
  | { type: 'pong' }
  | { type: 'step'; id: number; done: number; total: number }
  | { type: 'text'; id: number; text: string }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError };

export interface WireError {
  name: string;
  message: string;
  code?: string;
  /** A UserFacingError (or subclass) in the worker. */
  userFacing: boolean;
  stack?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code: unknown = (err as Error & { code?: unknown }).code;
    return {
      name: err.name,
      message: err.message,
      code: typeof code === 'string' ? code : undefined,
      userFacing: err instanceof UserFacingError,
      stack: err.stack,
    };
  }
  return { name: 'Error', message: String(err), userFacing: false };
}

/**
 * The user-facing error classes a worker can throw, by class name: each comes back here as an instance
 * of the same class (so `instanceof`, `name`, `code` and `message` all hold). A class missing from this
 * list still arrives as a UserFacingError with its name and code.
 */
const USER_FACING_CLASSES: readonly (abstract new (...args: never[]) => UserFacingError)[] = [UserFacingError, InputError, ImageInputError, BundleError, CancelledError];
const BY_NAME = new Map(USER_FACING_CLASSES.map((c) => [c.name, c]));

/** The worker's error as the same class on this side (so `instanceof` and `code` still work). */
export function fromWireError(wire: WireError): Error {
  let err: Error;
  if (wire.userFacing) {
    // Built without running the constructor (whose parameters differ per class), then given its fields.
    err = Reflect.construct(Error, [wire.message], BY_NAME.get(wire.name) ?? UserFacingError) as UserFacingError;
    Object.defineProperty(err, 'code', { value: wire.code ?? 'error', enumerable: true });
    err.name = wire.name;
  } else {
    err = new Error(wire.message);
    err.name = wire.name;
    if (wire.code) (err as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack) err.stack = `${err.stack}\n    --- in the engine worker ---\n${wire.stack}`;
  return err;
}
