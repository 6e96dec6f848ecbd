import ort from 'onnxruntime-node';
import { BundleError } from '../errors.ts';
import type { Bundle, Device } from '../bundle/load-bundle.ts';
import { GRAPH_NAMES, type GraphName } from '../bundle/contract.ts';
import { checkGraphContract } from '../bundle/check-graph-contract.ts';
import type { AttentionForm } from './attention-form.ts';
import { defaultGraphCacheDir, planKvAppend } from './kv-append-graph.ts';

export interface SessionOptions {
  device?: Device;
  /** Threads per session for intra-op parallelism; 0 lets ONNX Runtime decide. */
  intraOpThreads?: number;
  /**
   * Let idle intra-op threads spin-wait for work (ONNX Runtime's default). Default false: a step
   * runs three sessions in turn, and each one's spinning threads took cores from the next.
   */
  allowSpinning?: boolean;
  /** Told why CUDA was not used, when it was asked for. */
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
  /** Whether the language model in use is the load-time rewrite. */
  rewritten: boolean;
}

/**
 * Creates one session per graph, once. CUDA is used when asked for and loadable; otherwise CPU,
 * with the reason passed to onFallback (a missing CUDA library must never crash the bot).
 */
export async function createSessions(bundle: Bundle, options: SessionOptions = {}): Promise<Sessions> {
  let device: Device = options.device ?? 'cpu';
  const sessions: Partial<Record<GraphName, ort.InferenceSession>> = {};
  let kvAppend: KvAppendOutputs | null = null;
  let kvAppendReason: string | undefined;
  let attention: AttentionForm | null = null;
  let rewritten = false;
  const open = async (path: string): Promise<ort.InferenceSession> => {
    if (device !== 'cuda') return openCpu(path, options);
    try {
      return await ort.InferenceSession.create(path, sessionOptions(['cuda', 'cpu'], options));
    } catch (err) {
      // Only a graph that then loads on CPU proves the provider, not the file, was the problem.
      const session = await openCpu(path, options);
      options.onFallback?.(`CUDA execution provider unavailable (${firstLine(err)}); using CPU.`);
      device = 'cpu';
      return session;
    }
  };
  try {
    for (const name of GRAPH_NAMES) {
      const path = bundle.graphs[name].path;
      let session: ort.InferenceSession | undefined;
      if (name === 'language_model') {
        const plan = planKvAppend(path, options.graphCacheDir === undefined ? defaultGraphCacheDir() : options.graphCacheDir);
        attention = plan.form;
        if ('reason' in plan) kvAppendReason = plan.reason;
        else if (options.rewriteLanguageModel === false) {
          kvAppendReason = 'the language model is loaded as it is (rewriteLanguageModel: false)';
          plan.cleanup();
        } else {
          try {
            session = await open(plan.path);
            rewritten = true;
            if (options.kvAppend === false) kvAppendReason = 'turned off (kvAppend: false)';
            else kvAppend = { newKeys: plan.newKeys, newValues: plan.newValues };
          } catch (err) {
            kvAppendReason = `the rewritten graph did not load (${firstLine(err)})`;
          } finally {
            // The session has read the rewritten file and its external data: the temp folder can go.
            plan.cleanup();
          }
        }
      }
      session ??= await open(path);
      sessions[name] = session;
      checkGraphContract(name, session, `onnx/${path.split(/[\\/]/).pop()}`);
    }
  } catch (err) {
    await Promise.all(Object.values(sessions).map((s) => s.release()));
    throw err;
  }
  return { sessions: sessions as Record<GraphName, ort.InferenceSession>, device, kvAppend, kvAppendReason, attention, rewritten };
}

async function openCpu(path: string, options: SessionOptions): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, sessionOptions(['cpu'], options));
  } catch (err) {
    throw new BundleError('graph_invalid', `Cannot load ${path}: ${firstLine(err)}`);
  }
}

function sessionOptions(providers: string[], options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}
