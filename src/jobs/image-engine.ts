import type { ImageLimits } from '../images/limits.ts';
import type { EngineGenerateRequest, Generation, GroundOptions, Grounding, PhotoFile } from '../pipeline/personalizer.ts';
import type { SubjectContext } from '../pipeline/xcot-prompts.ts';
import type { SelfJudgement } from '../pipeline/self-judge.ts';
import type { UpscaleResult } from '../runtime/upscale-thread.ts';
import type { ScoredGeneration } from '../pipeline/candidate-group.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';

/**
 * What a job's run (GenerationService, runStoredJob, group scoring) needs from the model: prepare photos, ground, generate. Implemented by
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
  /**
   * generate() of a group that the engine also scores with an embedding scorer where it drew it,
   * against the subject's photos and the request's prompt (WorkerEngine: in the drawing worker, so
   * the images cross to the caller once); optional. A scorer that fails leaves the images with why.
   */
  generateScored?(request: EngineGenerateRequest<S> & { subject: S }, scorer: EmbeddingScorerKind): Promise<ScoredGeneration>;
  /** Output pixels per input pixel of the upscaler the engine runs, when it runs one. */
  readonly upscaleScale?: number;
  /** An encoded image upscaled (PNG out) by the engine's upscaler; optional. */
  upscale?(image: Uint8Array, options?: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void }): Promise<UpscaleResult>;
  /** Frees a prepared subject early (engines that keep subjects elsewhere); optional. */
  releaseImages?(subject: S): void;
}
