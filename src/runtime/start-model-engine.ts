import type { Device } from '../bundle/load-bundle.ts';
import type { MatMulAccuracy } from '../model/matmul-accuracy.ts';
import { WorkerEngine, type EngineLogger } from './worker-engine.ts';

/** The model settings of every process that loads the model (the gateway, a model worker), a part of its configuration (src/app/config.ts). */
export interface ModelSettings {
  modelDir: string;
  device: Device;
  modelSlots: number;
  /** Jobs one worker thread draws together. */
  batchJobs: number;
  prefixCacheMb: number;
  visionCacheMb: number;
  engineStallMs: number;
  scorerDir?: string;
  /** A Swin2SR folder: the upscaler's own worker thread (upscale-thread.ts); unset: no upscaling. */
  upscalerDir?: string;
  upscaleMemoryMb?: number;
  /** Where the language model's load-time rewrite is kept (XCOT_GRAPH_CACHE); unset: the model's default. */
  graphCacheDir?: string;
  /** MATMUL_ACCURACY: a 4-bit language model at the fastest level measured correct here, or at the file's own; unset: fastest. */
  matMulAccuracy?: MatMulAccuracy;
}

/**
 * The model in worker threads (one per slot), as `npm start` and `npm run worker` run it, so the process's
 * own thread never waits on a model step; logs what loaded and why the KV cache is fetched whole, if it is.
 */
export async function startModelEngine(settings: ModelSettings, logger: EngineLogger): Promise<WorkerEngine> {
  const engine = await WorkerEngine.start({
    modelDir: settings.modelDir,
    device: settings.device,
    workers: settings.modelSlots,
    maxBatchRows: 2 * settings.batchJobs,
    prefixCacheMb: settings.prefixCacheMb,
    visionCacheMb: settings.visionCacheMb,
    stallMs: settings.engineStallMs,
    scorerDir: settings.scorerDir,
    upscalerDir: settings.upscalerDir,
    upscaleMemoryMb: settings.upscaleMemoryMb,
    graphCacheDir: settings.graphCacheDir,
    matMulAccuracy: settings.matMulAccuracy,
    // A run's deadline cancels it; a worker that ignores that cancel this long is replaced.
    cancelGraceMs: 30_000,
    onFallback: (reason) => logger.warn({ reason }, 'execution provider fallback'),
    logger,
  });
  logger.info({ model: settings.modelDir, device: engine.device, shape: engine.shape, workers: engine.workers }, 'model loaded');
  if (!settings.upscalerDir) logger.info({}, 'no UPSCALER_DIR: the Upscale button is off');
  else if (engine.upscalerProblem) logger.warn({ problem: engine.upscalerProblem }, `upscaler off, the Upscale button too: ${engine.upscalerProblem}`);
  else logger.info({ upscaler: settings.upscalerDir, scale: engine.upscaleScale }, 'upscaler loaded');
  if (engine.kvAppendReason) logger.warn({ reason: engine.kvAppendReason }, 'language model fetches its whole KV cache every step (slower)');
  return engine;
}
