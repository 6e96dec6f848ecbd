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
import type { Device } from '../model-kinds.ts';

export type { Device };

/** The general preference per device: on CPU 4-bit weights (MatMulNBits) read the least memory per step; on CUDA half precision is native. */
const CPU_ORDER: readonly GraphDtype[] = ['q4', 'fp32', 'q8', 'fp16', 'q4f16'];
const CUDA_ORDER: readonly GraphDtype[] = ['fp16', 'q4f16', 'fp32', 'q4', 'q8'];
const WEBGPU_ORDER: readonly GraphDtype[] = ['fp16', 'q4f16', 'fp32', 'q4', 'q8'];
/** `first`, then the rest of `order`: the fallback behaviour stays "the first variant that exists". */
const preferring = (first: GraphDtype, order: readonly GraphDtype[]): readonly GraphDtype[] => [first, ...order.filter((d) => d !== first)];

/**
 * Which dtype variant each graph loads when none is asked for: the first in its order that exists.
 *
 * Why per graph: the official transformers.js Janus-Pro demo (huggingface/transformers.js-examples,
 * janus-pro-webgpu/src/worker.js) picks a precision per graph for onnx-community/Janus-Pro-1B-ONNX.
 * Without fp16 it loads language_model q4 and every other graph fp32; with fp16 it loads
 * language_model q4f16, lm_head / gen_head / gen_img_embeds fp16, prepare_inputs_embeds q4 (run on
 * wasm, not the GPU) and image_decode fp32. We follow it where it fits ONNX Runtime on CPU / CUDA:
 * - language_model: q4 on CPU (the 576-step loop is memory-bound; MatMulNBits reads 1/8 of fp32),
 *   q4f16 on CUDA (the demo's choice; on CUDA GroupQueryAttention has float16 kernels only).
 * - prepare_inputs_embeds (SigLIP + token embeddings, run once per prompt), gen_img_embeds (a lookup
 *   and a small MLP per step) and image_decode (the VQ decoder, once per image): full precision on
 *   both devices; they are a small part of a step or run once, so 4 or 16 bits save little and
 *   round the image features, the image-token embeddings that feed every step, or the pixels.
 *   (The demo's fp16 gen_img_embeds is a browser memory saving we do not need.)
 * - lm_head / gen_head: the device order (q4 on CPU, fp16 on CUDA). The demo loads them fp32 on
 *   CPU, but they run at every step (lm_head alone is 2048 x 102400 weights, 0.8 GB in fp32) and
 *   test/bundle.test.ts pins q4 first on CPU; `--dtype lm_head=fp32` gives the demo's choice.
 * - webgpu: the demo's fp16 choices (language_model q4f16, lm_head / gen_head fp16), with
 *   prepare_inputs_embeds, gen_img_embeds and image_decode in full precision as above. Every current
 *   GPU's Vulkan driver and Mesa's lavapipe offer WebGPU's shader-f16; on an adapter without it,
 *   `--dtype language_model=q4` (and fp32 heads) is the demo's other branch.
 * An explicit dtype (`--dtype GRAPH=DTYPE`, `dtypes`) never falls back to another file.
 */
export const DEFAULT_DTYPE_ORDER: Record<Device, Record<GraphName, readonly GraphDtype[]>> = {
  cpu: {
    prepare_inputs_embeds: preferring('fp32', CPU_ORDER),
    language_model: CPU_ORDER,
    lm_head: CPU_ORDER,
    gen_head: CPU_ORDER,
    gen_img_embeds: preferring('fp32', CPU_ORDER),
    image_decode: preferring('fp32', CPU_ORDER),
  },
  cuda: {
    prepare_inputs_embeds: preferring('fp32', CUDA_ORDER),
    language_model: preferring('q4f16', CUDA_ORDER),
    lm_head: CUDA_ORDER,
    gen_head: CUDA_ORDER,
    gen_img_embeds: preferring('fp32', CUDA_ORDER),
    image_decode: preferring('fp32', CUDA_ORDER),
  },
  webgpu: {
    prepare_inputs_embeds: preferring('fp32', WEBGPU_ORDER),
    language_model: preferring('q4f16', WEBGPU_ORDER),
    lm_head: WEBGPU_ORDER,
    gen_head: WEBGPU_ORDER,
    gen_img_embeds: preferring('fp32', WEBGPU_ORDER),
    image_decode: preferring('fp32', WEBGPU_ORDER),
  },
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
  /** A generated test fixture (random weights): its tokenizer carries the generator's reserved-token names. */
  randomWeights: boolean;
}

export interface LoadBundleOptions {
  device?: Device;
  /** Per-graph dtype; a graph not named takes the device's default order. */
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
}

/** The generator's reserved-token names: only a generated random-weight bundle has them. */
export const RANDOM_WEIGHTS_MARK = '<|fixture_reserved_';

/** Reads and checks a bundle folder laid out like the public Janus-Pro ONNX exports. */
export function loadBundle(dir: string, options: LoadBundleOptions = {}): Bundle {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new BundleError('bundle_missing', `Model bundle not found: ${dir} is not a folder.`);
  }
  const device = options.device ?? 'cpu';
  const tokenizerJson = readJson(dir, 'tokenizer.json', null) as object;
  return {
    dir,
    config: readJson(dir, 'config.json', ModelConfigSchema),
    generation: readJson(dir, 'generation_config.json', GenerationConfigSchema),
    preprocessor: readJson(dir, 'preprocessor_config.json', PreprocessorConfigSchema),
    processor: readJson(dir, 'processor_config.json', ProcessorConfigSchema),
    tokenizerJson,
    tokenizerConfig: readJson(dir, 'tokenizer_config.json', TokenizerConfigSchema),
    graphs: Object.fromEntries(
      GRAPH_NAMES.map((g) => [g, pickGraph(dir, g, options.dtypes?.[g], device)]),
    ) as Record<GraphName, BundleGraph>,
    randomWeights: JSON.stringify(tokenizerJson).includes(RANDOM_WEIGHTS_MARK),
  };
}

/** The variant a graph loads on `device`: the asked-for dtype, else the first of its default order that exists. */
export type GraphPick =
  | (BundleGraph & { explicit: boolean; tried: string[] })
  | { path: null; dtype: null; explicit: boolean; tried: string[] };

export function chooseGraphVariant(dir: string, graph: GraphName, wanted: GraphDtype | undefined, device: Device): GraphPick {
  const candidates = wanted ? [wanted] : DEFAULT_DTYPE_ORDER[device][graph];
  const tried: string[] = [];
  for (const dtype of candidates) {
    const path = join(dir, 'onnx', graphFileName(graph, dtype));
    tried.push(`onnx/${graphFileName(graph, dtype)}`);
    if (existsSync(path)) return { path, dtype, explicit: wanted !== undefined, tried };
  }
  return { path: null, dtype: null, explicit: wanted !== undefined, tried };
}

function pickGraph(dir: string, graph: GraphName, wanted: GraphDtype | undefined, device: Device): BundleGraph {
  const pick = chooseGraphVariant(dir, graph, wanted, device);
  if (pick.path === null) {
    throw new BundleError('graph_missing', `Model bundle ${dir} has no ${graph} graph (looked for ${pick.tried.join(', ')}).`);
  }
  return { path: pick.path, dtype: pick.dtype };
}

/** Reads one of the bundle's JSON files; throws a BundleError (file_missing, file_invalid) naming it. */
export function readBundleJson<T extends z.ZodType>(dir: string, name: string, schema: T | null): z.infer<T> {
  return readJson(dir, name, schema);
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
