import ort from 'onnxruntime-node';
import { BundleError } from '../errors.ts';
import type { Bundle, Device } from '../bundle/load-bundle.ts';
import { GRAPH_IO, GRAPH_NAMES, type GraphName } from '../bundle/contract.ts';
import { checkGraphContract } from '../bundle/check-graph-contract.ts';
import type { AttentionForm, AttentionVariant } from './attention-form.ts';
import { planKvAppend } from './kv-append-graph.ts';
import { defaultGraphCacheDir } from './kv-append-cache.ts';
import type { MatMulLevels } from './kv-append-plan.ts';
import { fastestMatMulLevel, type MatMulAccuracy } from './matmul-accuracy.ts';
import { probeWebGpu, type WebGpuAdapter } from './webgpu-probe.ts';
import { markDeviceOutputs } from './device-tensor.ts';
import { firstLine } from '../util/first-line.ts';

export interface SessionOptions {
  device?: Device;
  /** Threads per session for intra-op parallelism; 0 lets ONNX Runtime decide. */
  intraOpThreads?: number;
  /**
   * Let idle intra-op threads spin-wait for work (ONNX Runtime's default). Default false: a step
   * runs three sessions in turn, and each one's spinning threads took cores from the next.
   */
  allowSpinning?: boolean;
  /**
   * Where the language model's KV cache lives between steps on webgpu: 'device' (default) keeps
   * each step's new rows in WebGPU memory and the batch cache there; 'host' fetches them like the
   * CPU provider does (for checking). Ignored on cpu and cuda.
   */
  kv?: 'host' | 'device';
  /** Told why CUDA or WebGPU was not used, when it was asked for. */
  onFallback?: (reason: string) => void;
  /**
   * Fetch only each step's new KV rows instead of the whole present cache (see planKvAppend).
   * Default true; when the graph does not allow it the engine fetches present.
   */
  kvAppend?: boolean;
  /**
   * Load the language model rewritten at load time (see planKvAppend). Default true; false loads
   * the file as it is: the whole present cache is fetched, and on a MultiHeadAttention graph a
   * prompt continued after a past runs one position at a time.
   */
  rewriteLanguageModel?: boolean;
  /**
   * Where the rewritten language model is kept between runs (see planKvAppend); null writes it to
   * a temp folder at every load. Default: XCOT_GRAPH_CACHE or ~/.cache/xcot-personalize/graphs.
   */
  graphCacheDir?: string | null;
  /**
   * The accuracy_level a q4 language model's MatMulNBits run at on CPU (set in the load-time
   * rewrite): 'fastest' (default) is the fastest level fastestMatMulLevel measured correct on this
   * machine; 'file' keeps the file's own (also MATMUL_ACCURACY=file); a number forces that level.
   */
  matMulAccuracy?: MatMulAccuracy | number;
}

/** The language model's 4-bit layers: the file's accuracy levels, the one that runs, and why. */
export interface MatMulReport extends MatMulLevels {
  why: string;
}

/** MATMUL_ACCURACY=file keeps the file's accuracy levels; otherwise the fastest measured correct. */
export function defaultMatMulAccuracy(): MatMulAccuracy {
  return process.env.MATMUL_ACCURACY === 'file' ? 'file' : 'fastest';
}

/**
 * The level to rewrite a language model's MatMulNBits to, or null for the file's own, with the
 * reason. Only a q4 graph on CPU is changed (float32 activations; other providers ignore the level).
 */
export async function chooseMatMulLevel(
  dtype: string,
  device: Device,
  accuracy: MatMulAccuracy | number,
  cacheDir: string | null,
  threads = 0,
): Promise<{ level: number | null; why: string }> {
  if (dtype !== 'q4') return { level: null, why: `the file's own (${dtype} graph)` };
  if (device !== 'cpu') return { level: null, why: `the file's own (the level is a CPU setting; running on ${device})` };
  if (typeof accuracy === 'number') return { level: accuracy, why: `asked for (accuracy level ${accuracy})` };
  if (accuracy === 'file') return { level: null, why: "the file's own (asked for: --exact or MATMUL_ACCURACY=file)" };
  const choice = await fastestMatMulLevel(cacheDir, threads);
  const ms = (level: number) => choice.measured.find((m) => m.level === level)?.ms.toFixed(2) ?? '?';
  const error = choice.measured.find((m) => m.level === choice.level)?.relativeError ?? 0;
  return {
    level: choice.level,
    why: `the fastest measured correct on this CPU (a 2048x5632 4-bit probe: level ${choice.level} ${ms(choice.level)} ms, level 0 ${ms(0)} ms, relative difference ${error.toExponential(1)}${choice.fromCache ? '; measured before' : ''})`,
  };
}

/** Names of the new key/value rows per layer, when the language model was loaded to output them. */
export interface KvAppendOutputs {
  newKeys: string[];
  newValues: string[];
}

export interface Sessions {
  sessions: Record<GraphName, ort.InferenceSession>;
  /** The provider actually in use. */
  device: Device;
  kvAppend: KvAppendOutputs | null;
  /** Why the KV-append form is not in use. */
  kvAppendReason?: string;
  /** The language model's attention form; null when it is none the engine knows. */
  attention: AttentionForm | null;
  /** Which onnxruntime-genai builder form the language model is (null: not known). */
  variant: AttentionVariant | null;
  /** The language model's 4-bit layers and the accuracy level they run at (null: none or not read). */
  matMul: MatMulReport | null;
  /** Whether the language model in use is the load-time rewrite. */
  rewritten: boolean;
  /** On webgpu: the adapter found. */
  adapter?: WebGpuAdapter;
  /** Whether the language model's new KV rows come back in WebGPU memory (DeviceTensor). */
  kvOnDevice: boolean;
  /** Why the KV cache is in host memory on webgpu, when it is. */
  kvHostReason?: string;
  /** Options for more sessions on the provider in use (the device KV graphs). */
  providerOptions: ort.InferenceSession.SessionOptions;
}

/**
 * Creates one session per graph, once. CUDA or WebGPU is used when asked for and loadable;
 * otherwise CPU, with the reason passed to onFallback (a missing CUDA library or Vulkan driver must
 * never crash the bot). WebGPU is first probed in a child process (see probeWebGpu).
 */
export async function createSessions(bundle: Bundle, options: SessionOptions = {}): Promise<Sessions> {
  let device: Device = options.device ?? 'cpu';
  let adapter: WebGpuAdapter | undefined;
  if (device === 'webgpu') {
    const probe = await probeWebGpu();
    if (probe.ok) adapter = probe.adapter;
    else {
      options.onFallback?.(`WebGPU unavailable: ${probe.reason}; using CPU.`);
      device = 'cpu';
    }
  }
  let kvOnDevice = false;
  let kvHostReason: string | undefined;
  const sessions: Partial<Record<GraphName, ort.InferenceSession>> = {};
  let kvAppend: KvAppendOutputs | null = null;
  let kvAppendReason: string | undefined;
  let attention: AttentionForm | null = null;
  let variant: AttentionVariant | null = null;
  let matMul: MatMulReport | null = null;
  let rewritten = false;
  const open = async (path: string, deviceOutputs: string[] = [], graph?: GraphName): Promise<ort.InferenceSession> => {
    // prepare_inputs_embeds runs on CPU under webgpu, as in transformers.js' Janus-Pro WebGPU demo
    // (its vision encoder runs once per photo, and the WebGPU Conv refuses the empty image batch
    // of a text-only prompt: "Invalid dispatch group size").
    if (device === 'webgpu' && graph !== 'prepare_inputs_embeds') {
      try {
        const preferredOutputLocation = Object.fromEntries(deviceOutputs.map((n) => [n, 'gpu-buffer'])) as Record<string, ort.Tensor.DataLocation>;
        const session = await ort.InferenceSession.create(path, { ...sessionOptions(['webgpu'], options), ...(deviceOutputs.length ? { preferredOutputLocation } : {}) });
        return deviceOutputs.length ? markDeviceOutputs(session) : session;
      } catch (err) {
        const session = await openCpu(path, options);
        options.onFallback?.(`WebGPU execution provider failed on ${path.split(/[\\/]/).pop()} (${firstLine(err, 300)}); using CPU.`);
        device = 'cpu';
        return session;
      }
    }
    if (device !== 'cuda') return openCpu(path, options);
    try {
      return await ort.InferenceSession.create(path, sessionOptions(['cuda', 'cpu'], options));
    } catch (err) {
      // Only a graph that then loads on CPU proves the provider, not the file, was the problem.
      const session = await openCpu(path, options);
      options.onFallback?.(`CUDA execution provider unavailable (${firstLine(err, 300)}); using CPU.`);
      device = 'cpu';
      return session;
    }
  };
  try {
    for (const name of GRAPH_NAMES) {
      const path = bundle.graphs[name].path;
      let session: ort.InferenceSession | undefined;
      if (name === 'language_model') {
        const cacheDir = options.graphCacheDir === undefined ? defaultGraphCacheDir() : options.graphCacheDir;
        const accuracy = options.rewriteLanguageModel === false ? 'file' : (options.matMulAccuracy ?? defaultMatMulAccuracy());
        const chosen = await chooseMatMulLevel(bundle.graphs[name].dtype, device, accuracy, cacheDir, options.intraOpThreads);
        const plan = planKvAppend(path, cacheDir, { matMulLevel: chosen.level });
        attention = plan.form;
        variant = plan.variant;
        if (plan.matMul) {
          const runs = 'reason' in plan || options.rewriteLanguageModel === false ? null : plan.matMul.runs;
          const why = runs === null && chosen.level !== null ? `the file's own (the rewrite is not in use: ${'reason' in plan ? plan.reason : 'rewriteLanguageModel: false'})` : chosen.why;
          matMul = { ...plan.matMul, runs, why };
        }
        if ('reason' in plan) kvAppendReason = plan.reason;
        else if (options.rewriteLanguageModel === false) {
          kvAppendReason = 'the language model is loaded as it is (rewriteLanguageModel: false)';
          plan.cleanup();
        } else {
          try {
            const onDevice = device === 'webgpu' && options.kv !== 'host' && options.kvAppend !== false;
            session = await open(plan.path, onDevice ? [...plan.newKeys, ...plan.newValues, ...presentNames(plan.newKeys.length)] : []);
            rewritten = true;
            kvOnDevice = onDevice && device === 'webgpu';
            if (options.kvAppend === false) kvAppendReason = 'turned off (kvAppend: false)';
            else kvAppend = { newKeys: plan.newKeys, newValues: plan.newValues };
          } catch (err) {
            kvAppendReason = `the rewritten graph did not load (${firstLine(err, 300)})`;
            if (matMul) matMul = { ...matMul, runs: null, why: `the file's own (${kvAppendReason})` };
          } finally {
            // The session has read the rewritten file and its external data: the temp folder can go.
            plan.cleanup();
          }
        }
      }
      session ??= await open(path, [], name);
      sessions[name] = session;
      if (name === 'language_model' && device === 'webgpu' && !kvOnDevice) {
        kvHostReason = options.kv === 'host' ? 'asked for (--kv host)' : `the language model cannot output its new KV rows alone (${kvAppendReason ?? 'not rewritten'})`;
      }
      checkGraphContract(name, session, `onnx/${path.split(/[\\/]/).pop()}`);
    }
  } catch (err) {
    await Promise.all(Object.values(sessions).map((s) => s.release()));
    throw err;
  }
  return {
    sessions: sessions as Record<GraphName, ort.InferenceSession>, device, kvAppend, kvAppendReason, attention, variant, matMul, rewritten,
    adapter: device === 'webgpu' ? adapter : undefined,
    // The language model keeps its device outputs even when a later graph fell back to CPU.
    kvOnDevice,
    kvHostReason: device === 'webgpu' && !kvOnDevice ? kvHostReason : undefined,
    providerOptions: sessionOptions([kvOnDevice || device === 'webgpu' ? 'webgpu' : 'cpu'], options),
  };
}

async function openCpu(path: string, options: SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, sessionOptions(['cpu'], options));
  } catch (err) {
    throw new BundleError('graph_invalid', `Cannot load ${path}: ${firstLine(err, 300)}`);
  }
}

function sessionOptions(providers: string[], options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    // WebGPU sessions warn at every load that shape ops stay on CPU (by design): errors only.
    ...(providers.includes('webgpu') ? { logSeverityLevel: 3 as const } : {}),
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
  };
}

function presentNames(layers: number): string[] {
  return Array.from({ length: layers }, (_, i) => [GRAPH_IO.language_model.presentKey(i), GRAPH_IO.language_model.presentValue(i)]).flat();
}
