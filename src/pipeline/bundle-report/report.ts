import type { AttentionForm, AttentionVariant } from '../../model/attention-form.ts';
import type { JanusModel, ModelShape } from '../../model/janus-model.ts';
import type { MatMulReport } from '../../model/sessions.ts';
import type { MatMulAccuracy } from '../../model/matmul-accuracy.ts';
import type { GraphDtype, GraphName } from '../../bundle/contract.ts';
import type { BundleGraph, Device } from '../../bundle/load-bundle.ts';

/** The shape of a bundle report (see check-bundle.ts), and the facts of a loaded engine it can be made from. */

export interface BundleIssue {
  severity: 'error' | 'warning';
  /** The file the issue is about, relative to the bundle (or the bundle folder itself). */
  file: string;
  problem: string;
  fix: string;
}

export interface GraphVariantFile {
  dtype: GraphDtype;
  file: string;
  bytes: number;
  /** External data files next to it (`FILE_data`, `FILE_data_1`, ...) and their total size. */
  sidecars: string[];
  sidecarBytes: number;
}

export interface GraphChoice {
  dtype: GraphDtype | null;
  file: string | null;
  explicit: boolean;
  /** Why this variant: the dtype asked for, or the default order and where in it the file was found. */
  why: string;
}

export interface GraphReport {
  graph: GraphName;
  variants: GraphVariantFile[];
  cpu: GraphChoice;
  cuda: GraphChoice;
  webgpu: GraphChoice;
  /** The file opened to read names (checkBundle, with them) or the one the engine loaded. */
  opened?: { file: string; inputs?: string[]; outputs?: string[] };
}

export type KvStrategy = 'new-rows' | 'whole-present' | 'on-device';

export interface LanguageModelReport {
  file: string | null;
  form: AttentionForm | null;
  /** Which onnxruntime-genai builder form the graph is; null when not read or not known. */
  variant?: AttentionVariant | null;
  /** Its 4-bit MatMulNBits layers: the accuracy levels the file gives them and the one that runs; null when not read. */
  matMul?: MatMulReport | null;
  /**
   * new-rows: each step fetches only its new KV rows (load-time outputs); whole-present: present is
   * fetched whole; on-device (webgpu): the cache stays in WebGPU memory, device graphs write each
   * step's new rows there and only the hidden state is fetched.
   */
  kvStrategy: KvStrategy | null;
  kvWhy: string;
  /** Whether the graph declares position_ids; null when not read. */
  positionIds: boolean | null;
  /** Whether transformers.js' unconditional row (attention 0 everywhere) can run; null when the form is unknown. */
  unconditionalRow: boolean | null;
  /** Whether planKvAppend answered from its on-disk cache instead of decoding the file; null when not asked. */
  fromCache: boolean | null;
  /** Element type of hidden_states (float16 for the public q4f16 file). */
  hiddenStatesType?: string;
}

export interface TokenRef {
  id: number | null;
  token: string | null;
}

export interface SpecialIdsReport {
  bos: TokenRef;
  eos: TokenRef;
  /** The pad of the unconditional CFG row: generation_config.pad_token_id when set, else the tokenizer's pad_token. */
  cfgPad: TokenRef & { source: string };
  tokenizerPad: TokenRef;
  imageStart: TokenRef;
  imageEnd: TokenRef;
  imagePlaceholder: TokenRef;
}

export interface ExternalDataReport {
  /** config.json transformers.js_config.use_external_data_format as written (absent: null). */
  declared: unknown;
  /** Per graph file: its sidecars and the chunk count the declaration gives it. */
  files: { file: string; sidecars: string[]; declaredChunks: number }[];
  agrees: boolean;
}

export interface BundleSizes {
  hidden?: number;
  layers?: number;
  kvHeads?: number;
  headDim?: number;
  textVocab?: number;
  codebook?: number;
  imageSize?: number;
  imageTokens?: number;
}

export interface BundleReport {
  dir: string;
  /** The device the choices were checked for, and the one in use (differs after a CUDA fallback). */
  device: Device;
  deviceInUse: Device;
  deviceNote?: string;
  usable: boolean;
  graphs: GraphReport[];
  otherFiles: { file: string; note: string }[];
  languageModel: LanguageModelReport;
  sizes: BundleSizes;
  specialIds: SpecialIdsReport | null;
  chatTemplates: {
    names: string[];
    form: 'string' | 'list' | 'object' | 'none';
    /**
     * Of the templates the pipeline renders, those that write BOS themselves and those that do not
     * (the engine puts BOS first either way, as the official recipe; transformers.js does not).
     */
    bos?: { writes: string[]; omits: string[] };
  };
  externalData: ExternalDataReport;
  issues: BundleIssue[];
}

export interface ReportOptions {
  /** The device whose variants are checked (default cpu). */
  device?: Device;
  dtypes?: Partial<Record<GraphName, GraphDtype>>;
  /** planKvAppend's cache; default its own default (XCOT_GRAPH_CACHE or ~/.cache/...). */
  graphCacheDir?: string | null;
  /** The engine's MatMulNBits accuracy choice to report (default: as the engine, MATMUL_ACCURACY or fastest). */
  matMulAccuracy?: MatMulAccuracy;
  /** Where the engine keeps the KV cache on webgpu (its `kv` option); default device. */
  kv?: 'host' | 'device';
}

/** What the engine knows about the model it loaded (JanusModel's own facts). */
export interface EngineFacts {
  device: Device;
  graphs: Record<GraphName, BundleGraph>;
  /** undefined: not known where this report is made. */
  attention?: AttentionForm | null;
  variant?: AttentionVariant | null;
  matMul?: MatMulReport | null;
  kvAppend: boolean;
  kvAppendReason?: string;
  /** Whether the KV cache stays in WebGPU memory between steps. */
  kvOnDevice?: boolean;
  allowsUnattendedRows?: boolean;
  /** Whether the language model declares position_ids. */
  positionIds?: boolean;
  shape?: ModelShape;
  fromCache?: boolean;
}

/** The facts of a loaded JanusModel, for describeLoadedBundle. */
export function engineFacts(model: JanusModel, graphs: Record<GraphName, BundleGraph>): EngineFacts {
  return {
    device: model.device,
    graphs,
    attention: model.attention,
    variant: model.attentionVariant,
    matMul: model.matMul,
    kvAppend: model.kvAppend !== null,
    kvAppendReason: model.kvAppendReason,
    kvOnDevice: model.kvOnDevice,
    allowsUnattendedRows: model.allowsUnattendedRows,
    positionIds: model.usesPositionIds,
    shape: model.shape,
  };
}

/** Where a check files what it found. */
export type IssueSink = (severity: BundleIssue['severity'], file: string, problem: string, fix: string) => void;

/** A report that knows nothing yet. */
export function emptyReport(dir: string, device: Device, kvWhy: string): BundleReport {
  return {
    dir,
    device,
    deviceInUse: device,
    usable: false,
    graphs: [],
    otherFiles: [],
    languageModel: { file: null, form: null, kvStrategy: null, kvWhy, positionIds: null, unconditionalRow: null, fromCache: null },
    sizes: {},
    specialIds: null,
    chatTemplates: { names: [], form: 'none' },
    externalData: { declared: null, files: [], agrees: true },
    issues: [],
  };
}

export const FIX_SIZES = 'the graphs and config.json come from different models or revisions: download them all from the same repository revision';

/** "onnx/x.onnx does not match ...: no input ..." -> "does not match ...: no input ..." (the file is shown apart). */
export function stripFile(message: string, file: string): string {
  if (message.startsWith(`${file}: `)) return message.slice(file.length + 2);
  return message.startsWith(`${file} `) ? message.slice(file.length + 1) : message;
}
