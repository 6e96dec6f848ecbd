import type { EngineFacts } from '../pipeline/bundle-report/report.ts';
import type { BundleGraph, Device } from '../bundle/load-bundle.ts';
import type { GraphDtype, GraphName } from '../bundle/contract.ts';
import type { WireError } from './wire-error.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { PreprocessMode } from '../images/preprocess.ts';
import type { OutputFormat } from '../images/encode.ts';
import type { ProgressHooks } from '../decoding/progress.ts';
import type { GenerateRequest, GroundOptions } from '../pipeline/personalizer.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { ModelShape } from '../model/janus-model.ts';
import type { MatMulAccuracy } from '../model/matmul-accuracy.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';
import type { DrawnGroupScores } from '../pipeline/candidate-group.ts';

/**
 * Messages between WorkerEngine (main thread) and engine-thread-main.ts. Everything travels by
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
  /** Folder of the embedding scorers (SCORER_DIR); each worker loads them at its first 'generate' that asks for a scorer. */
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
export type WireGenerateRequest = Omit<GenerateRequest, 'subject' | keyof ProgressHooks>;
export type WireGroundOptions = Omit<GroundOptions, 'signal' | 'onText'>;

/** Test-only ways to die: process.exit, an uncaught error, or spin in JS (until the supervisor replaces the worker). */
export type CrashMode = 'exit' | 'throw' | 'hang';

export type ToWorker =
  | { op: 'prepareImages'; id: number; photos: { bytes: Uint8Array; name?: string }[]; limits?: Partial<ImageLimits>; aborted?: boolean }
  | { op: 'ground'; id: number; handle: number; context: SubjectContext; options: WireGroundOptions; wantText: boolean; aborted?: boolean }
  /** With `scorer` (and a subject): the drawn group is scored in the same worker against the subject's photos. */
  | { op: 'generate'; id: number; handle: number | null; request: WireGenerateRequest; wantSteps: boolean; scorer?: EmbeddingScorerKind; aborted?: boolean }
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
  /** Image tokens (copied: 576 numbers an image). */
  imageTokens: number[];
  seed: number;
}

export interface WireGeneration {
  images: WireImage[];
  promptTokens: number;
  timings: { tokensMs: number; decodeMs: number; imageTokensPerSec: number };
  /** Set when the request asked for a scorer. */
  scoring?: DrawnGroupScores;
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
