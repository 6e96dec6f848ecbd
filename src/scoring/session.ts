import { existsSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import type { Device } from '../model-kinds.ts';

/** Which ONNX file of a transformers.js folder: fp32 onnx/NAME.onnx, q8 onnx/NAME_quantized.onnx. */
export type ScorerDtype = 'fp32' | 'q8';
const SUFFIX: Record<ScorerDtype, string> = { fp32: '', q8: '_quantized' };

export interface ScorerSessionOptions {
  dtype?: ScorerDtype;
  /** ONNX Runtime intra-op threads (0: its default). */
  threads?: number;
  device?: Device;
}

export function onnxPath(dir: string, name: string, dtype: ScorerDtype = 'fp32'): string {
  const path = join(dir, 'onnx', `${name}${SUFFIX[dtype]}.onnx`);
  if (!existsSync(path)) throw new Error(`${path} not found (dtype ${dtype})`);
  return path;
}

/** A session whose graph has the inputs and outputs a scorer needs, or an error naming what is missing. */
export async function openScorerSession(path: string, inputs: string[], outputs: string[], o: ScorerSessionOptions = {}): Promise<ort.InferenceSession> {
  const session = await ort.InferenceSession.create(path, {
    executionProviders: o.device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
  });
  const missing = [...inputs.filter((n) => !session.inputNames.includes(n)), ...outputs.filter((n) => !session.outputNames.includes(n))];
  if (missing.length) {
    await session.release();
    throw new Error(`${path} lacks ${missing.join(', ')} (has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`);
  }
  return session;
}
