import { UserFacingError } from '../errors.ts';
import type { ImageLimits } from '../images/limits.ts';
import type { GenerateRequest, Generation, GroundOptions, Grounding, Personalizer, SubjectImages } from '../pipeline/personalizer.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { SelfJudgement } from '../pipeline/self-judge.ts';
import type { GroupScores } from '../scoring/ranking.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';

/** A subject photo as received (bytes) with a name for error messages. */
export interface PhotoFile {
  bytes: Uint8Array;
  name?: string;
}

/** A generate request whose prepared subject is of the engine's own kind. */
export type EngineGenerateRequest<S> = Omit<GenerateRequest, 'subject'> & { subject?: S | null };

/**
 * What the GenerationService needs from the model: prepare photos, ground, generate. Implemented by
 * Personalizer (in-process: the CLI and most tests) and WorkerEngine (ONNX sessions in worker
 * threads: the bot). `S` is the engine's prepared subject: pixels in-process, an opaque handle to
 * pixels kept inside a worker for WorkerEngine.
 */
export interface ImageEngine<S = unknown> {
  /** The model bundle's folder; its name is the model id (grounding cache keys). */
  readonly bundle: { readonly dir: string };
  prepareImages(inputs: PhotoFile[], limits?: Partial<ImageLimits>): Promise<S>;
  ground(subject: S, context?: SubjectContext, options?: GroundOptions): Promise<Grounding>;
  generate(request: EngineGenerateRequest<S>): Promise<Generation>;
  /** The self-judge's scores for encoded candidates (see Personalizer.judge); optional. */
  judge?(subject: S, candidates: Uint8Array[], prompt: string, options?: { signal?: AbortSignal }): Promise<SelfJudgement>;
  /** A group ranked by the embedding scorers where the engine runs them (WorkerEngine: in its workers); optional. */
  scoreGroup?(
    scorer: EmbeddingScorerKind,
    args: { candidates: readonly Uint8Array[]; subjectPhotos: readonly Uint8Array[]; prompt: string; signal?: AbortSignal },
  ): Promise<GroupScores>;
  /** Output pixels per input pixel of the upscaler the engine runs, when it runs one. */
  readonly upscaleScale?: number;
  /** An encoded image upscaled (PNG out) by the engine's upscaler; optional. */
  upscale?(image: Uint8Array, options?: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void }): Promise<UpscaledImage>;
  /** Frees a prepared subject early (engines that keep subjects elsewhere); optional. */
  releaseImages?(subject: S): void;
}

export interface UpscaledImage {
  /** PNG bytes. */
  data: Uint8Array;
  width: number;
  height: number;
  tiles: number;
  ms: number;
}

/** Compile-time check that the in-process pipeline is an ImageEngine. */
export type PersonalizerIsAnImageEngine = Personalizer extends ImageEngine<SubjectImages> ? true : never;
const personalizerIsAnImageEngine: PersonalizerIsAnImageEngine = true;
void personalizerIsAnImageEngine;

/**
 * The engine could not finish this request: its worker died (native error, out of memory,
 * killed) or could not be restarted. The worker is restarted; trying again is the fix.
 */
export class EngineCrashedError extends UserFacingError {
  declare readonly code: 'engine_crashed';

  constructor(message = 'The image engine crashed while making this image; please try again.') {
    super('engine_crashed', message);
  }
}

/**
 * The request's worker stopped answering (a run that never returns, or one that ignored its cancel):
 * the worker was replaced, and what it was doing is lost. Trying again is the fix.
 */
export class EngineStuckError extends UserFacingError {
  declare readonly code: 'engine_stuck';

  constructor(message = 'The image engine stopped responding while making this image and was restarted; please try again.') {
    super('engine_stuck', message);
  }
}

/** The engine was closed (shutdown) before or while the request ran. */
export class EngineClosedError extends UserFacingError {
  declare readonly code: 'engine_closed';

  constructor(message = 'The image engine is shutting down; please try again in a minute.') {
    super('engine_closed', message);
  }
}
