import ort from 'onnxruntime-node';
import { BundleError } from '../errors.ts';
import type { Bundle, Device } from '../bundle/load-bundle.ts';
import { GRAPH_NAMES, type GraphName } from '../bundle/contract.ts';
import { checkGraphContract } from '../bundle/check-graph-contract.ts';

export interface SessionOptions {
  device?: Device;
  /** Threads per session for intra-op parallelism; 0 lets ONNX Runtime decide. */
  intraOpThreads?: number;
  /** Told why CUDA was not used, when it was asked for. */
  onFallback?: (reason: string) => void;
}

export interface Sessions {
  sessions: Record<GraphName, ort.InferenceSession>;
  /** The provider actually in use. */
  device: Device;
}

/**
 * Creates one session per graph, once. CUDA is used when asked for and loadable; otherwise CPU,
 * with the reason passed to onFallback (a missing CUDA library must never crash the bot).
 */
export async function createSessions(bundle: Bundle, options: SessionOptions = {}): Promise<Sessions> {
  let device: Device = options.device ?? 'cpu';
  const sessions: Partial<Record<GraphName, ort.InferenceSession>> = {};
  try {
    for (const name of GRAPH_NAMES) {
      const path = bundle.graphs[name].path;
      let session: ort.InferenceSession;
      if (device === 'cuda') {
        try {
          session = await ort.InferenceSession.create(path, sessionOptions(['cuda', 'cpu'], options));
        } catch (err) {
          // Only a graph that then loads on CPU proves the provider, not the file, was the problem.
          session = await openCpu(path, options);
          options.onFallback?.(`CUDA execution provider unavailable (${firstLine(err)}); using CPU.`);
          device = 'cpu';
        }
      } else {
        session = await openCpu(path, options);
      }
      sessions[name] = session;
      checkGraphContract(name, session, `onnx/${path.split(/[\\/]/).pop()}`);
    }
  } catch (err) {
    await Promise.all(Object.values(sessions).map((s) => s.release()));
    throw err;
  }
  return { sessions: sessions as Record<GraphName, ort.InferenceSession>, device };
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
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}
