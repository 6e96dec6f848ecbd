import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { BundleError } from '../errors.ts';
import {
  GenerationConfigSchema,
  ModelConfigSchema,
  PreprocessorConfigSchema,
  ProcessorConfigSchema,
  TokenizerConfigSchema,
  type GenerationConfig,
  type ModelConfig,
  type PreprocessorConfig,
  type ProcessorConfig,
  type TokenizerConfig,
} from './bundle-config.ts';
import { DTYPE_SUFFIX, GRAPH_NAMES, graphFileName, type GraphDtype, type GraphName } from './contract.ts';

export type Device = 'cpu' | 'cuda';

/**
 * Which dtype variant to load when none is asked for: the first that exists. On CPU 4-bit weights
 * (MatMulNBits) read the least memory per step; on CUDA half precision is native.
 */
export const DEFAULT_DTYPE_ORDER: Record<Device, GraphDtype[]> = {
  cpu: ['q4', 'fp32', 'q8', 'fp16', 'q4f16'],
  cuda: ['fp16', 'q4f16', 'fp32', 'q4', 'q8'],
};

export interface BundleGraph {
  path: string;
  dtype: GraphDtype;
}

export interface Bundle {
  dir: string;
  config: ModelConfig;
  generation: GenerationConfig;
  preprocessor: PreprocessorConfig;
  processor: ProcessorConfig;
  tokenizerJson: object;
  tokenizerConfig: TokenizerConfig;
  graphs: Record<GraphName, BundleGraph>;
}

export interface LoadBundleOptions {
  device?: Device;
  /** Per-graph dtype; a graph not named takes the device's default order. */
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
}

/** Reads and checks a bundle folder laid out like the public Janus-Pro ONNX exports. */
export function loadBundle(dir: string, options: LoadBundleOptions = {}): Bundle {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new BundleError('bundle_missing', `Model bundle not found: ${dir} is not a folder.`);
  }
  const device = options.device ?? 'cpu';
  return {
    dir,
    config: readJson(dir, 'config.json', ModelConfigSchema),
    generation: readJson(dir, 'generation_config.json', GenerationConfigSchema),
    preprocessor: readJson(dir, 'preprocessor_config.json', PreprocessorConfigSchema),
    processor: readJson(dir, 'processor_config.json', ProcessorConfigSchema),
    tokenizerJson: readJson(dir, 'tokenizer.json', null) as object,
    tokenizerConfig: readJson(dir, 'tokenizer_config.json', TokenizerConfigSchema),
    graphs: Object.fromEntries(
      GRAPH_NAMES.map((g) => [g, pickGraph(dir, g, options.dtypes?.[g], DEFAULT_DTYPE_ORDER[device])]),
    ) as Record<GraphName, BundleGraph>,
  };
}

function pickGraph(dir: string, graph: GraphName, wanted: GraphDtype | undefined, order: GraphDtype[]): BundleGraph {
  const candidates = wanted ? [wanted] : order;
  for (const dtype of candidates) {
    const path = join(dir, 'onnx', graphFileName(graph, dtype));
    if (existsSync(path)) return { path, dtype };
  }
  const tried = candidates.map((d) => `onnx/${graphFileName(graph, d)}`).join(', ');
  throw new BundleError('graph_missing', `Model bundle ${dir} has no ${graph} graph (looked for ${tried}).`);
}

function readJson<T extends z.ZodType>(dir: string, name: string, schema: T | null): z.infer<T> {
  const path = join(dir, name);
  if (!existsSync(path)) throw new BundleError('file_missing', `Model bundle ${dir} is missing ${name}.`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new BundleError('file_invalid', `${name} in ${dir} is not valid JSON.`);
  }
  if (!schema) return value as z.infer<T>;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BundleError('file_invalid', `${name} in ${dir}: ${issue.path.join('.') || '(root)'} ${issue.message}.`);
  }
  return parsed.data;
}

export function isGraphDtype(s: string): s is GraphDtype {
  return Object.hasOwn(DTYPE_SUFFIX, s);
}
