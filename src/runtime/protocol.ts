import type { EngineFacts } from '../pipeline/bundle-report/report.ts';
import type { BundleGraph, Device } from '../bundle/load-bundle.ts';
import type { GraphDtype, GraphName } from '../bundle/contract.ts';
import { BundleError, CancelledError, InputError, JobTimeoutError, QueueClosedError, QueueFullError, UserFacingError, type ErrorCode } from '../errors.ts';
import { ImageInputError } from '../images/errors.ts';
import { StoreUnavailableError } from '../store/store-outage.ts';
import { EngineClosedError, EngineCrashedError, EngineStuckError } from './image-engine.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { PreprocessMode } from '../images/preprocess.ts';
import type { OutputFormat } from '../images/encode.ts';
import type { GenerateRequest, GroundOptions } from '../pipeline/personalizer.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { ModelShape } from '../model/janus-model.ts';
import type { MatMulAccuracy } from '../model/matmul-accuracy.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';

/**
 * Messages between WorkerEngine (main thread) and engine-worker.ts. Everything travels by
 * structured clone; bulk bytes (photos in, encoded images and image tokens out) as transferred
 * ArrayBuffers. Pixels and tensors never leave the worker.
 */

/** How each engine worker thread loads the model: the part of WorkerEngineOptions every thread receives. */
export interface ModelLoadOptions {
  modelDir: string;
  device?: Device;
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
  /** ONNX Runtime intra-op threads per session. */
  intraOpThreads?: number;
  preprocess?: PreprocessMode;
  /** Per worker: vision features and prompt-prefix KV kept for known subjects, MiB (defaults 256 and 4096; see PersonalizerOptions). */
  visionCacheMb?: number;
  prefixCacheMb?: number;
  /** Per worker: most decoder rows drawn together by concurrent requests (2 per image with guidance). Default 8. */
  maxBatchRows?: number;
  /** Folder of the embedding scorers (SCORER_DIR); each worker loads them at its first 'scoreGroup'. */
  scorerDir?: string;
  /** Where the language model's load-time rewrite is kept (SessionOptions.graphCacheDir; default XCOT_GRAPH_CACHE or ~/.cache/xcot-personalize/graphs). */
  graphCacheDir?: string;
  /** The accuracy level of a 4-bit language model's layers on CPU (SessionOptions.matMulAccuracy; default MATMUL_ACCURACY, else fastest). */
  matMulAccuracy?: MatMulAccuracy;
  /** Test-only: honour the 'crash' op (WorkerEngine.simulateCrash kills a worker). */
  testHooks?: boolean;
}

/** workerData of an engine worker. */
export interface WorkerInit extends ModelLoadOptions {
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
  | { op: 'scoreGroup'; id: number; scorer: EmbeddingScorerKind; candidates: Uint8Array[]; photos: Uint8Array[]; prompt: string; aborted?: boolean }
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

/** A field of a user-facing error besides name, message and code (QueueFullError.limit, ...), as it travels. */
export type WireField = string | number | boolean | null;

/**
 * An error thrown in a worker, as it travels: by structured clone to an engine worker thread, as JSON in a
 * BullMQ job's failedReason from a model worker process (src/jobs/cluster/failure-wire.ts). The form only
 * has to agree within one process version, but fromWireError reads the older one (no classes, no fields).
 */
export type WireError =
  | {
      /** A UserFacingError (or subclass) in the worker. */
      userFacing: true;
      name: string;
      message: string;
      code: ErrorCode;
      /** Its class and the classes above it, up to UserFacingError: the first one registered is rebuilt. */
      classes: string[];
      /** Its own enumerable fields with plain values, besides name, message, code and stack. */
      fields: Record<string, WireField>;
      stack?: string;
    }
  | {
      userFacing: false;
      name: string;
      message: string;
      /** Node's, the system's or a library's code ('ERR_OUT_OF_RANGE', 'ENOSPC'): not one of ours. */
      code?: string;
      stack?: string;
    };

/** Own properties that are not fields: the Error's own, and those the wire form carries already. */
const NOT_FIELDS = new Set(['name', 'message', 'code', 'stack', 'cause']);

export function toWireError(err: unknown): WireError {
  if (err instanceof UserFacingError) {
    const classes: string[] = [];
    for (let proto: object | null = Object.getPrototypeOf(err); proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
      classes.push((proto as { constructor: { name: string } }).constructor.name);
    }
    const fields: Record<string, WireField> = {};
    for (const [key, value] of Object.entries(err)) {
      if (NOT_FIELDS.has(key)) continue;
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
    }
    return { userFacing: true, name: err.name, message: err.message, code: err.code, classes, fields, stack: err.stack };
  }
  if (err instanceof Error) {
    const code: unknown = (err as Error & { code?: unknown }).code;
    return { userFacing: false, name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, stack: err.stack };
  }
  return { userFacing: false, name: 'Error', message: String(err) };
}

/** A user-facing error class, whatever its constructor's parameters. */
export type UserFacingErrorClass = abstract new (...args: never[]) => UserFacingError;

/**
 * The user-facing error classes that cross the worker boundary, each under its class name: each comes back
 * on this side as an instance of the same class (so `instanceof`, `name`, `code`, `message` and its fields
 * all hold). Every UserFacingError subclass in src/ and commands/ is either listed here or in
 * MAIN_THREAD_ERROR_CLASSES: test/wire-errors.test.ts fails for one that is in neither, for a key that is
 * not its class's name, and for a class here that does not round-trip.
 */
export const WORKER_ERROR_CLASSES = {
  UserFacingError,
  InputError,
  ImageInputError,
  BundleError,
  CancelledError,
  EngineCrashedError,
  EngineStuckError,
  EngineClosedError,
  QueueFullError,
  QueueClosedError,
  JobTimeoutError,
  StoreUnavailableError,
} as const satisfies Record<string, UserFacingErrorClass>;

export type WorkerErrorClassName = keyof typeof WORKER_ERROR_CLASSES;

/**
 * User-facing classes thrown only on the main thread, whose modules an engine worker does not load
 * (QuotaExceededError: quota.ts brings in bottleneck and ioredis; ResultTakenError: the cluster runner of
 * the gateway). Should one cross anyway it comes back as its nearest registered class above it (an
 * InputError, a UserFacingError), with its name, code, message and fields.
 */
export const MAIN_THREAD_ERROR_CLASSES: readonly string[] = ['QuotaExceededError', 'ResultTakenError'];

const BY_NAME: ReadonlyMap<string, UserFacingErrorClass> = new Map(Object.entries(WORKER_ERROR_CLASSES));

/** The worker's error as the same class on this side (so `instanceof` and `code` still work). */
export function fromWireError(wire: WireError): Error {
  let err: Error;
  if (wire.userFacing) {
    // `?? `: a form written by an older build (failure-wire.ts keeps it in Redis) had neither list.
    const cls = (wire.classes ?? [wire.name]).map((name) => BY_NAME.get(name)).find((c) => c !== undefined) ?? UserFacingError;
    // Built without running the constructor (whose parameters differ per class), then given its fields.
    err = Reflect.construct(Error, [wire.message], cls) as UserFacingError;
    for (const [key, value] of Object.entries({ ...wire.fields, code: wire.code })) {
      Object.defineProperty(err, key, { value, enumerable: true, writable: true, configurable: true });
    }
    err.name = wire.name;
  } else {
    err = new Error(wire.message);
    err.name = wire.name;
    if (wire.code) (err as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack) err.stack = `${err.stack}\n    --- in the engine worker ---\n${wire.stack}`;
  return err;
}
