import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import type { InferenceSession } from 'onnxruntime-common';
import { BundleError } from '../errors.ts';
import { VARIANT_TEXT, type AttentionForm, type AttentionVariant } from '../model/attention-form.ts';
import type { JanusModel, ModelShape } from '../model/janus-model.ts';
import type { MatMulReport } from '../model/sessions.ts';
import type { MatMulAccuracy } from '../model/matmul-accuracy.ts';
import { defaultGraphCacheDir, planKvAppend } from '../model/kv-append-graph.ts';
import { GENERATION_TEMPLATE, GROUNDING_TEMPLATE } from './xcot-prompts.ts';
import {
  GenerationConfigSchema,
  ModelConfigSchema,
  PreprocessorConfigSchema,
  ProcessorConfigSchema,
  TokenizerConfigSchema,
  chatTemplates,
  tokenContent,
  type GenerationConfig,
  type PreprocessorConfig,
  type ProcessorConfig,
  type TokenizerConfig,
} from '../bundle/bundle-config.ts';
import { checkGraphContract } from '../bundle/check-graph-contract.ts';
import { DTYPE_SUFFIX, GRAPH_IO, GRAPH_NAMES, graphFileName, type GraphDtype, type GraphName } from '../bundle/contract.ts';
import { chooseGraphVariant, DEFAULT_DTYPE_ORDER, RANDOM_WEIGHTS_MARK, readBundleJson, type BundleGraph, type Device } from '../bundle/load-bundle.ts';

/**
 * One summary of a bundle, for `npm run check-bundle`, the CLI and the bot: which files it has,
 * which variant each graph loads on CPU and CUDA and why, the language model's attention form and
 * KV strategy, special ids, chat templates, external data, and every deviation from the contract
 * with what to do about it. checkBundle() opens each graph it needs once (metadata only) and lets
 * planKvAppend decode the language model (once, then from its cache); describeLoadedBundle() opens
 * nothing and takes the language model's facts from the loaded engine.
 */

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

export type KvStrategy = 'new-rows' | 'whole-present';

export interface LanguageModelReport {
  file: string | null;
  form: AttentionForm | null;
  /** Which onnxruntime-genai builder form the graph is; null when not read or not known. */
  variant?: AttentionVariant | null;
  /** Its 4-bit MatMulNBits layers: the accuracy levels the file gives them and the one that runs; null when not read. */
  matMul?: MatMulReport | null;
  /** new-rows: each step fetches only its new KV rows (load-time outputs); whole-present: present is fetched whole. */
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
    allowsUnattendedRows: model.allowsUnattendedRows,
    positionIds: model.usesPositionIds,
    shape: model.shape,
  };
}

const REQUIRED_TEMPLATES = [GROUNDING_TEMPLATE, GENERATION_TEMPLATE];
const FIX_SIZES = 'the graphs and config.json come from different models or revisions: download them all from the same repository revision';
const FIX_CONTRACT = 'use a graph exported for this contract (tensor names in models/README.md, "Graphs"; transformers.js reads the same names)';

// ---- the two entry points -------------------------------------------------------------------------

/**
 * Checks a bundle folder without the engine: static checks, then each graph the device loads opened
 * once for its names and shapes (released at once), the language model through planKvAppend.
 */
export async function checkBundle(dir: string, options: ReportOptions = {}): Promise<BundleReport> {
  const ctx = staticReport(dir, options);
  if (!ctx) return missingFolder(dir, options);
  const { report } = ctx;
  // Loaded here only: the bot's main thread imports this module without running sessions.
  const mod = await import('onnxruntime-node');
  const ort = (mod.default as typeof mod.default | undefined) ?? mod;
  let device: Device = report.device;
  const open = async (path: string): Promise<InferenceSession> => {
    const opts = (providers: string[]): InferenceSession.SessionOptions => ({ executionProviders: providers, graphOptimizationLevel: 'disabled' });
    if (device === 'cuda') {
      try {
        return await ort.InferenceSession.create(path, opts(['cuda', 'cpu']));
      } catch (err) {
        // As the engine does: only a graph that then loads on CPU proves the provider was the problem.
        const session = await ort.InferenceSession.create(path, opts(['cpu']));
        device = 'cpu';
        report.deviceInUse = 'cpu';
        report.deviceNote = `the CUDA execution provider did not load here (${firstLine(err)}); graphs were opened on CPU to read their names`;
        return session;
      }
    }
    return ort.InferenceSession.create(path, opts(['cpu']));
  };
  if (device === 'webgpu') {
    // Compiling WebGPU shaders to read names would take minutes on a software driver: names are
    // read on CPU, and the adapter is probed (as the engine does) to say whether webgpu would run.
    const { probeWebGpu } = await import('../model/webgpu-probe.ts');
    const probe = await probeWebGpu();
    report.deviceInUse = probe.ok ? 'webgpu' : 'cpu';
    report.deviceNote = probe.ok
      ? `WebGPU adapter ${probe.adapter.adapter} (driver ${probe.adapter.driver}); graphs were opened on CPU to read their names`
      : `WebGPU is not available here (${probe.reason}); the engine would fall back to CPU; graphs were opened on CPU to read their names`;
  }

  for (const g of report.graphs) {
    const choice = g[report.device];
    if (!choice.file) continue;
    const path = join(dir, choice.file);
    let session: InferenceSession | undefined;
    if (g.graph === 'language_model') {
      session = await inspectLanguageModel(report, path, options, open, choice.dtype ?? 'fp32');
    }
    try {
      session ??= await open(path);
    } catch (err) {
      // Checking a CUDA set where CUDA is absent: a float16 graph may lack CPU kernels, which says nothing about CUDA.
      const elsewhere = (report.device === 'cuda' && report.deviceInUse === 'cpu') || report.device === 'webgpu';
      report.issues.push({
        severity: elsewhere ? 'warning' : 'error',
        file: choice.file,
        problem: `cannot be opened by ONNX Runtime${elsewhere ? ` on CPU (${report.device === 'webgpu' ? 'names are read on CPU' : 'CUDA is not available here'}), so it was not checked` : ''}: ${firstLine(err)}`,
        fix: `re-download ${choice.file}${g.variants.find((v) => v.file === choice.file)?.sidecars.length ? ' and its .onnx_data sidecar' : ' (and its .onnx_data sidecar if the repository has one)'}, or choose another variant with --dtype ${g.graph}=DTYPE`,
      });
      continue;
    }
    try {
      g.opened = { file: choice.file, inputs: [...session.inputNames], outputs: [...session.outputNames] };
      try {
        checkGraphContract(g.graph, session, choice.file);
      } catch (err) {
        if (!(err instanceof BundleError)) throw err;
        report.issues.push({ severity: 'error', file: choice.file, problem: stripFile(err.message, choice.file), fix: FIX_CONTRACT });
      }
      readGraphSizes(report, g.graph, session, choice.file);
    } finally {
      // Only metadata is kept (read above); the weights go now.
      await session.release();
    }
  }
  compareSizes(report, ctx);
  return finish(report);
}

/**
 * The same summary for a bundle the engine has loaded: static checks plus the engine's own facts
 * (attention form, KV strategy, device, loaded variants, sizes). Opens no session, decodes nothing.
 */
export function describeLoadedBundle(dir: string, options: ReportOptions, facts: EngineFacts): BundleReport {
  const ctx = staticReport(dir, { ...options, device: options.device ?? facts.device });
  if (!ctx) return missingFolder(dir, options);
  const { report } = ctx;
  report.deviceInUse = facts.device;
  if (facts.device !== report.device) {
    report.deviceNote = `${report.device} was asked for; the engine runs on ${facts.device} (provider fallback) with the ${report.device} variants`;
  }
  for (const g of report.graphs) g.opened = { file: `onnx/${basename(facts.graphs[g.graph].path)}` };
  const lm = report.languageModel;
  lm.file = `onnx/${basename(facts.graphs.language_model.path)}`;
  if (facts.attention !== undefined) lm.form = facts.attention;
  if (facts.variant !== undefined) lm.variant = facts.variant;
  if (facts.matMul !== undefined) lm.matMul = facts.matMul;
  lm.kvStrategy = facts.kvAppend ? 'new-rows' : 'whole-present';
  lm.kvWhy = facts.kvAppend ? "load-time outputs of each layer's new rows" : (facts.kvAppendReason ?? 'no reason given');
  lm.unconditionalRow = facts.allowsUnattendedRows ?? (lm.form === undefined || lm.form === null ? null : lm.form !== 'gqa');
  lm.fromCache = facts.fromCache ?? null;
  if (facts.positionIds !== undefined) lm.positionIds = facts.positionIds;
  if (facts.shape) {
    const s = facts.shape;
    Object.assign(report.sizes, {
      hidden: s.hidden, layers: s.layers, kvHeads: s.kvHeads, headDim: s.headDim, textVocab: s.textVocab, codebook: s.codebookSize,
    });
  }
  compareSizes(report, ctx);
  return finish(report);
}

// ---- rendering ----------------------------------------------------------------------------------

/** The report as lines of text, one fact or problem each. */
export function reportLines(r: BundleReport): string[] {
  const lines: string[] = [];
  const errors = r.issues.filter((i) => i.severity === 'error');
  const warnings = r.issues.filter((i) => i.severity === 'warning');
  lines.push(`bundle ${r.dir}: ${r.usable ? 'usable' : 'NOT usable'} on ${r.device}${errors.length ? `, ${errors.length} problem(s)` : ''}${warnings.length ? `, ${warnings.length} warning(s)` : ''}`);
  if (r.deviceNote) lines.push(`device: ${r.deviceNote}`);
  for (const g of r.graphs) {
    const variants = g.variants.length ? g.variants.map((v) => `${v.dtype} ${mb(v.bytes + v.sidecarBytes)}`).join(', ') : 'none';
    const choice = (d: Device) => (g[d].dtype ? `${g[d].dtype} (${g[d].why})` : `none (${g[d].why})`);
    const opened = g.opened && g.opened.file !== g[r.device].file ? `; ${g.opened.file} is loaded` : '';
    lines.push(`graph ${g.graph}: variants ${variants}; cpu loads ${choice('cpu')}; cuda loads ${choice('cuda')}; webgpu loads ${choice('webgpu')}${opened}`);
  }
  for (const o of r.otherFiles) lines.push(`file ${o.file}: ${o.note}`);
  const lm = r.languageModel;
  if (lm.file) {
    const form = lm.form ?? 'unknown';
    const kv = lm.kvStrategy === 'new-rows'
      ? `only each step's new rows are fetched (${lm.kvWhy})`
      : lm.kvStrategy === 'whole-present' ? `the whole present cache is fetched each step (${lm.kvWhy})` : `not determined (${lm.kvWhy})`;
    const cache = lm.fromCache === null ? '' : lm.fromCache ? '; plan read from the rewrite cache' : '; graph decoded once, plan cached';
    lines.push(`language model ${lm.file}: ${form} attention; KV: ${kv}${cache}`);
    if (lm.variant) lines.push(`language model form: ${VARIANT_TEXT[lm.variant]}`);
    if (lm.matMul?.count) {
      const m = lm.matMul;
      lines.push(`language model 4-bit layers: ${m.count} MatMulNBits, accuracy_level ${m.fileLevels.join('/')} in the file; runs at ${m.runs ?? m.fileLevels.join('/')}: ${m.why}`);
    }
    const pos = lm.positionIds === null ? 'not read (npm run check-bundle reads it)' : lm.positionIds ? 'declared (fed from the mask)' : 'not declared';
    const uncond = lm.unconditionalRow === null ? 'unknown'
      : lm.unconditionalRow ? 'can run' : 'cannot run (GroupQueryAttention reads only each row\'s count of ones): use --uncond janus';
    lines.push(`language model inputs: position_ids ${pos}; transformers.js' unconditional row (attention 0 everywhere): ${uncond}${lm.hiddenStatesType ? `; hidden_states ${lm.hiddenStatesType}` : ''}`);
  }
  const s = r.sizes;
  const size = [
    s.hidden !== undefined && `hidden ${s.hidden}`,
    s.layers !== undefined && `${s.layers} layers`,
    s.kvHeads !== undefined && `${s.kvHeads} KV heads x ${s.headDim ?? '?'}`,
    s.textVocab !== undefined && `text vocab ${s.textVocab}`,
    s.codebook !== undefined && `codebook ${s.codebook}`,
    s.imageSize !== undefined && `image ${s.imageSize} px`,
    s.imageTokens !== undefined && `${s.imageTokens} image tokens`,
  ].filter(Boolean);
  if (size.length) lines.push(`sizes: ${size.join(', ')}`);
  if (r.specialIds) {
    const t = (x: TokenRef) => (x.id === null ? 'missing' : `${x.id}${x.token ? ` ${x.token}` : ''}`);
    const ids = r.specialIds;
    lines.push(`special ids: bos ${t(ids.bos)}, eos ${t(ids.eos)}, CFG pad ${t(ids.cfgPad)} (${ids.cfgPad.source}; the tokenizer's pad is ${t(ids.tokenizerPad)}), image start ${t(ids.imageStart)}, end ${t(ids.imageEnd)}, placeholder ${t(ids.imagePlaceholder)}`);
  }
  const ct = r.chatTemplates;
  if (r.graphs.length) lines.push(`chat templates: ${ct.names.length ? ct.names.join(', ') : 'none'}${ct.form === 'none' ? '' : ` (chat_template as ${ct.form === 'list' ? 'a list of {name, template}' : ct.form === 'object' ? 'an object name -> template' : 'one string, named default'})`}${bosNote(ct.bos)}`);
  const ext = r.externalData;
  const withData = ext.files.filter((f) => f.sidecars.length);
  if (r.graphs.length) lines.push(`external data: ${withData.length ? withData.map((f) => `${f.file} (${f.sidecars.length} file${f.sidecars.length > 1 ? 's' : ''})`).join(', ') : 'no sidecars'}; config.json use_external_data_format ${ext.declared === null ? 'absent' : JSON.stringify(ext.declared)} ${ext.agrees ? 'agrees with the files' : 'disagrees with the files (see warnings)'}`);
  for (const i of r.issues) lines.push(`${i.severity} ${i.file}: ${i.problem}; fix: ${i.fix}`);
  return lines;
}

function bosNote(bos: BundleReport['chatTemplates']['bos']): string {
  if (!bos || bos.writes.length + bos.omits.length === 0) return '';
  if (bos.omits.length === 0) return `; BOS written by ${bos.writes.join(' and ')} (as transformers.js feeds it)`;
  return `; BOS not written by ${bos.omits.join(' and ')}: the engine puts it first, as the official recipe does (transformers.js feeds no BOS there, so its tokens differ)`;
}

// ---- static part (files, JSON, tokenizer, templates, external data) -------------------------------

interface Ctx {
  report: BundleReport;
  config: Record<string, unknown> | null;
  generation: GenerationConfig | null;
  preprocessor: PreprocessorConfig | null;
  processor: ProcessorConfig | null;
}

function staticReport(dir: string, options: ReportOptions): Ctx | null {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  const device = options.device ?? 'cpu';
  const report = emptyReport(dir, device, 'not inspected');
  const issue = (severity: BundleIssue['severity'], file: string, problem: string, fix: string) => report.issues.push({ severity, file, problem, fix });

  // JSON files, each on its own so every broken one is listed.
  const json = <T>(name: string, read: () => T): T | null => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof BundleError)) throw err;
      const fix = err.code === 'file_missing'
        ? `download ${name} from the model repository into the bundle folder`
        : /not valid JSON/.test(err.message)
          ? `re-download ${name} (it does not parse as JSON)`
          : `correct the field named above as the public export has it (see models/README.md), or re-download ${name}`;
      issue('error', name, stripFile(err.message.replace(` in ${dir}`, '').replace(`Model bundle ${dir} is `, ''), name), fix);
      return null;
    }
  };
  json('config.json', () => readBundleJson(dir, 'config.json', ModelConfigSchema));
  // Raw: sizes and external data are still compared when the schema rejects another field.
  const config = tryJson(join(dir, 'config.json')) as Record<string, unknown> | null;
  const generation = json('generation_config.json', () => readBundleJson(dir, 'generation_config.json', GenerationConfigSchema));
  const preprocessor = json('preprocessor_config.json', () => readBundleJson(dir, 'preprocessor_config.json', PreprocessorConfigSchema));
  const processor = json('processor_config.json', () => readBundleJson(dir, 'processor_config.json', ProcessorConfigSchema));
  const tokenizerJson = json('tokenizer.json', () => readBundleJson(dir, 'tokenizer.json', null) as object);
  const tokenizerConfig = json('tokenizer_config.json', () => readBundleJson(dir, 'tokenizer_config.json', TokenizerConfigSchema));
  // The raw file too: the template list is reported even when the schema rejects its form.
  const rawTokenizerConfig = tryJson(join(dir, 'tokenizer_config.json'));

  // Graph files and their variants.
  const onnxDir = join(dir, 'onnx');
  const entries = existsSync(onnxDir) && statSync(onnxDir).isDirectory() ? readdirSync(onnxDir).sort() : [];
  if (!entries.length) issue('error', 'onnx/', 'no graph folder or it is empty', 'download the onnx/ files the device needs (models/README.md, "Using the real model")');
  const graphFiles = new Set<string>();
  for (const graph of GRAPH_NAMES) {
    const variants: GraphVariantFile[] = [];
    for (const dtype of Object.keys(DTYPE_SUFFIX) as GraphDtype[]) {
      const name = graphFileName(graph, dtype);
      if (!entries.includes(name)) continue;
      graphFiles.add(name);
      const sidecars = sidecarsOf(name, entries);
      const sidecarBytes = sidecars.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
      variants.push({ dtype, file: `onnx/${name}`, bytes: statSync(join(onnxDir, name)).size, sidecars, sidecarBytes });
    }
    const choice = (d: Device): GraphChoice => {
      const pick = chooseGraphVariant(dir, graph, options.dtypes?.[graph], d);
      const order = DEFAULT_DTYPE_ORDER[d][graph];
      const why = pick.explicit
        ? `asked for with --dtype ${graph}=${options.dtypes?.[graph]}${pick.dtype === null ? ', absent' : ''}`
        : pick.dtype === null ? `default order ${order.join(' > ')}, none present`
          : pick.dtype === order[0] ? `default order ${order.join(' > ')}` : `first present of default order ${order.join(' > ')}`;
      return { dtype: pick.dtype, file: pick.path === null ? null : `onnx/${graphFileName(graph, pick.dtype)}`, explicit: pick.explicit, why };
    };
    const g: GraphReport = { graph, variants, cpu: choice('cpu'), cuda: choice('cuda'), webgpu: choice('webgpu') };
    report.graphs.push(g);
    const mine = g[device];
    if (!mine.file && entries.length) {
      const first = DEFAULT_DTYPE_ORDER[device][graph][0];
      issue('error', `onnx/${graphFileName(graph, mine.explicit ? options.dtypes![graph]! : first)}`,
        mine.explicit ? `${graph} was asked for as ${options.dtypes![graph]} but that file is absent` : `no ${graph} graph in any dtype the loader looks for`,
        mine.explicit
          ? `download it, or drop --dtype ${graph}=... to take the first present of ${DEFAULT_DTYPE_ORDER[device][graph].join(' > ')}${variants.length ? ` (present: ${variants.map((v) => v.dtype).join(', ')})` : ''}`
          : `download onnx/${graphFileName(graph, first)} (with its .onnx_data sidecar if the repository has one)${variants.length ? `, or pass --dtype ${graph}=${variants[0].dtype}` : ''}`);
    }
  }
  // A clone without `git lfs pull` (or an interrupted one) leaves pointer files where graphs should be.
  const chosen = new Set(report.graphs.flatMap((g) => {
    const file = g[device].file;
    return file ? [file, ...(g.variants.find((v) => v.file === file)?.sidecars ?? [])] : [];
  }));
  for (const name of entries) {
    if (isLfsPointer(join(onnxDir, name))) {
      const file = `onnx/${name}`;
      issue(chosen.has(file) ? 'error' : 'warning', file, 'is a Git LFS pointer, not the file itself', `fetch it: git lfs pull --include "${file}" (or download it with huggingface-cli)`);
    }
  }
  report.languageModel.file = report.graphs.find((g) => g.graph === 'language_model')![device].file;

  // Files in onnx/ that are not a contract graph or its sidecar.
  for (const name of entries) {
    if (graphFiles.has(name)) continue;
    const owner = sidecarOwner(name);
    if (owner !== null) {
      if (!entries.includes(owner)) issue('warning', `onnx/${name}`, `external data without its graph onnx/${owner}`, `delete it, or download onnx/${owner}`);
      else if (!graphFiles.has(owner)) continue; // the sidecar of an extra graph: listed with it
      continue;
    }
    if (!name.endsWith('.onnx')) {
      report.otherFiles.push({ file: `onnx/${name}`, note: 'not a graph: ignored' });
      continue;
    }
    const base = name.slice(0, -'.onnx'.length);
    const sidecars = sidecarsOf(name, entries);
    const extra = sidecars.length ? ` (with ${sidecars.join(', ')})` : '';
    if (base.startsWith('embed_tokens')) {
      report.otherFiles.push({ file: `onnx/${name}`, note: `not used${extra}: prepare_inputs_embeds embeds the tokens (transformers.js' MultiModalityCausalLM does not open it either); it need not be downloaded` });
    } else if (GRAPH_NAMES.some((g) => base.startsWith(`${g}_`))) {
      report.otherFiles.push({ file: `onnx/${name}`, note: `not used${extra}: a dtype suffix the loader does not know (${Object.values(DTYPE_SUFFIX).filter(Boolean).join(' ')})` });
    } else {
      report.otherFiles.push({ file: `onnx/${name}`, note: `not used${extra}: not part of the bundle contract` });
    }
  }

  // Tokenizer, special ids, templates.
  let tokenizer: Tokenizer | null = null;
  if (tokenizerJson && tokenizerConfig) {
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (err) {
      issue('error', 'tokenizer.json', `cannot be loaded: ${firstLine(err)}`, 're-download tokenizer.json (and tokenizer_config.json) from the same repository');
    }
  }
  if (tokenizer && generation && processor) {
    report.specialIds = specialIds(tokenizer, generation, processor, tokenizerConfig!, issue);
  }
  report.chatTemplates = templates(rawTokenizerConfig, issue);
  if (tokenizer && generation && tokenizerConfig) report.chatTemplates.bos = templateBos(rawTokenizerConfig, tokenizer, tokenizerConfig, generation.bos_token_id);

  // External data against config.json's declaration.
  report.externalData = externalData(config, report.graphs, issue);

  report.sizes.imageSize = preprocessor?.image_size;
  report.sizes.imageTokens = processor?.num_image_tokens;
  return { report, config, generation, preprocessor, processor };
}

function specialIds(
  tokenizer: Tokenizer,
  generation: GenerationConfig,
  processor: ProcessorConfig,
  tokenizerConfig: TokenizerConfig,
  issue: (s: BundleIssue['severity'], file: string, problem: string, fix: string) => void,
): SpecialIdsReport {
  const byId = (id: number | null): TokenRef => ({ id, token: id === null ? null : (tokenizer.id_to_token(id) ?? null) });
  const byText = (text: string | undefined, file: string, field: string): TokenRef => {
    if (!text) return { id: null, token: null };
    const id = tokenizer.token_to_id(text);
    if (id === undefined) {
      issue('error', 'tokenizer.json', `has no token ${text} (${file} ${field})`, `use the tokenizer.json that came with the bundle, or set ${field} in ${file} to a token it has`);
      return { id: null, token: text };
    }
    return { id, token: text };
  };
  const eos = Array.isArray(generation.eos_token_id) ? generation.eos_token_id[0] : generation.eos_token_id;
  const tokenizerPad = byText(tokenContent(tokenizerConfig.pad_token) ?? undefined, 'tokenizer_config.json', 'pad_token');
  const cfgPad = generation.pad_token_id !== undefined
    ? { ...byId(generation.pad_token_id), source: 'generation_config.pad_token_id' }
    : { ...tokenizerPad, source: "no generation_config.pad_token_id: the tokenizer's pad_token" };
  if (cfgPad.id === null) {
    // The hint names the id this bundle's tokenizer.json gives the official pad tag, never a remembered one.
    const tag = processor.pad_tag ?? OFFICIAL_PAD_TAG;
    const padId = tokenizer.token_to_id(tag);
    issue('error', 'generation_config.json', 'no pad id for the unconditional CFG row', padId === undefined
      ? `set pad_token_id to the id of the pad token the model was trained with (tokenizer.json has no ${tag})`
      : `set pad_token_id to ${padId} (${tag} in this bundle's tokenizer.json)`);
  }
  const ids = {
    bos: byId(generation.bos_token_id),
    eos: byId(eos),
    cfgPad,
    tokenizerPad,
    imageStart: byText(processor.image_start_tag, 'processor_config.json', 'image_start_tag'),
    imageEnd: byText(processor.image_end_tag, 'processor_config.json', 'image_end_tag'),
    imagePlaceholder: byText(processor.image_tag, 'processor_config.json', 'image_tag'),
  };
  for (const [name, ref] of [['bos_token_id', ids.bos], ['eos_token_id', ids.eos], ['pad_token_id', ids.cfgPad]] as const) {
    if (ref.id !== null && ref.token === null) {
      issue('warning', 'generation_config.json', `${name} ${ref.id} names no token in tokenizer.json`, 'use the generation_config.json and tokenizer.json of the same repository revision');
    }
  }
  return ids;
}

function templates(raw: unknown, issue: (s: BundleIssue['severity'], file: string, problem: string, fix: string) => void): BundleReport['chatTemplates'] {
  const t = (raw as { chat_template?: unknown } | null)?.chat_template;
  let found: [string, unknown][] = [];
  let form: BundleReport['chatTemplates']['form'] = 'none';
  if (typeof t === 'string') {
    found = [['default', t]];
    form = 'string';
  } else if (Array.isArray(t)) {
    found = t.map((x: { name?: unknown; template?: unknown }) => [String(x?.name), x?.template]);
    form = 'list';
  } else if (t && typeof t === 'object') {
    found = Object.entries(t);
    form = 'object';
  }
  if (raw === null) return { names: [], form }; // the file itself is reported already
  for (const [name, text] of found) {
    try {
      if (typeof text !== 'string') throw new Error('not a string');
      new Template(text);
    } catch (err) {
      issue('error', 'tokenizer_config.json', `chat template "${name}" does not parse: ${firstLine(err)}`, 're-download tokenizer_config.json');
    }
  }
  const names = found.map(([n]) => n);
  for (const need of REQUIRED_TEMPLATES) {
    if (!names.includes(need)) {
      issue('error', 'tokenizer_config.json', `has no chat template named "${need}" (the pipeline renders grounding with "${GROUNDING_TEMPLATE}" and generation with "${GENERATION_TEMPLATE}")`,
        'use the tokenizer_config.json of onnx-community/Janus-Pro-1B-ONNX, whose chat_template holds both');
    }
  }
  return { names, form };
}

/** VLChatProcessor's default pad_tag (deepseek-ai/Janus processing_vlm.py). */
const OFFICIAL_PAD_TAG = '<｜▁pad▁｜>';

/** Which of the pipeline's templates write BOS first: each rendered with one user turn and encoded as transformers.js does. */
function templateBos(raw: unknown, tokenizer: Tokenizer, tokenizerConfig: TokenizerConfig, bos: number): { writes: string[]; omits: string[] } {
  const out = { writes: [] as string[], omits: [] as string[] };
  let all: Map<string, string>;
  try {
    all = chatTemplates(raw as TokenizerConfig);
  } catch {
    return out;
  }
  const specials = Object.fromEntries((['bos_token', 'eos_token', 'pad_token'] as const).map((k) => [k, tokenContent(tokenizerConfig[k]) ?? undefined]));
  for (const name of REQUIRED_TEMPLATES) {
    const text = all.get(name);
    if (text === undefined) continue;
    try {
      const rendered = new Template(text).render({ messages: [{ role: '<|User|>', content: 'x' }], add_generation_prompt: true, ...specials });
      (tokenizer.encode(rendered, { add_special_tokens: false }).ids[0] === bos ? out.writes : out.omits).push(name);
    } catch {
      // A template that does not render is reported by templates().
    }
  }
  return out;
}

/** transformers.js' rule (utils/model-loader.js resolveExternalDataFormat): a map by full file name, then by graph name; else the value for every file. */
function declaredChunks(declared: unknown, file: string, graph: string): number {
  if (declared === null || declared === undefined || declared === false) return 0;
  if (typeof declared === 'object') {
    const map = declared as Record<string, unknown>;
    if (Object.hasOwn(map, file)) return Number(map[file]);
    if (Object.hasOwn(map, graph)) return Number(map[graph]);
    return 0;
  }
  return Number(declared);
}

function externalData(
  config: Record<string, unknown> | null,
  graphs: GraphReport[],
  issue: (s: BundleIssue['severity'], file: string, problem: string, fix: string) => void,
): ExternalDataReport {
  if (config === null) return { declared: null, files: [], agrees: true }; // config.json itself is reported
  const tjs = config['transformers.js_config'] as Record<string, unknown> | undefined;
  const declared = tjs && Object.hasOwn(tjs, 'use_external_data_format') ? tjs.use_external_data_format : null;
  const files: ExternalDataReport['files'] = [];
  let agrees = true;
  for (const g of graphs) {
    for (const v of g.variants) {
      const name = v.file.slice('onnx/'.length);
      const chunks = declaredChunks(declared, name, g.graph);
      files.push({ file: v.file, sidecars: v.sidecars, declaredChunks: chunks });
      if (chunks === v.sidecars.length) continue;
      agrees = false;
      if (chunks > v.sidecars.length) {
        issue('warning', 'config.json', `use_external_data_format gives ${name} ${chunks} data file(s) but ${v.sidecars.length} ${v.sidecars.length === 1 ? 'is' : 'are'} present; transformers.js (the benchmark's reference) then fails to find them`,
          v.sidecars.length === 0 ? `set "${name}": 0 in transformers.js_config.use_external_data_format (the file holds its weights inline), or download its .onnx_data` : `download the missing ${name}_data_N files`);
      } else {
        issue('warning', 'config.json', `use_external_data_format gives ${name} ${chunks} data file(s) but ${v.sidecars.join(', ')} ${v.sidecars.length === 1 ? 'is' : 'are'} present; this engine and transformers.js in Node still load it, transformers.js in a browser does not`,
          `set "${name}": ${v.sidecars.length} in transformers.js_config.use_external_data_format`);
      }
    }
  }
  return { declared: declared ?? null, files, agrees };
}

// ---- graphs (checkBundle only) --------------------------------------------------------------------

async function inspectLanguageModel(
  report: BundleReport,
  path: string,
  options: ReportOptions,
  open: (path: string) => Promise<InferenceSession>,
  dtype: string,
): Promise<InferenceSession | undefined> {
  const lm = report.languageModel;
  const cacheDir = options.graphCacheDir === undefined ? defaultGraphCacheDir() : options.graphCacheDir;
  // As the engine chooses it (loaded here only, like onnxruntime-node above).
  const { chooseMatMulLevel, defaultMatMulAccuracy } = await import('../model/sessions.ts');
  const chosen = await chooseMatMulLevel(dtype, report.device, options.matMulAccuracy ?? defaultMatMulAccuracy(), cacheDir);
  let plan;
  try {
    plan = planKvAppend(path, cacheDir, { matMulLevel: chosen.level });
  } catch (err) {
    report.issues.push({ severity: 'error', file: lm.file!, problem: `cannot be decoded as an ONNX model: ${firstLine(err)}`, fix: 're-download it (a truncated download or a Git LFS pointer file reads like this)' });
    lm.kvWhy = 'the graph could not be read';
    return undefined;
  }
  lm.form = plan.form;
  lm.variant = plan.variant;
  if (plan.matMul) {
    const runs = 'reason' in plan ? null : plan.matMul.runs;
    lm.matMul = { ...plan.matMul, runs, why: runs === null && chosen.level !== null ? `the file's own (the rewrite is not in use: ${'reason' in plan ? plan.reason : ''})` : chosen.why };
  }
  lm.fromCache = plan.fromCache;
  lm.unconditionalRow = plan.form === null ? null : plan.form !== 'gqa';
  if ('reason' in plan) {
    lm.kvStrategy = 'whole-present';
    lm.kvWhy = plan.reason;
    if (plan.form === null) {
      report.issues.push({ severity: 'warning', file: lm.file!, problem: `attention form not recognized (${plan.reason}); the engine treats it as concat and fetches present whole`, fix: 'none needed if images look right; the KV cache costs a full copy each step' });
    }
    return undefined;
  }
  try {
    const session = await open(plan.path);
    lm.kvStrategy = 'new-rows';
    lm.kvWhy = `load-time outputs: ${plan.form === 'concat' ? "each Concat's second input" : plan.form === 'mha' ? 'the last columns of each present' : 'the columns GroupQueryAttention wrote, found from the mask'}`;
    return session;
  } catch (err) {
    lm.kvStrategy = 'whole-present';
    lm.kvWhy = `the rewritten graph did not load (${firstLine(err)})`;
    if (lm.matMul) lm.matMul = { ...lm.matMul, runs: null, why: `the file's own (${lm.kvWhy})` };
    return undefined;
  } finally {
    plan.cleanup();
  }
}

function readGraphSizes(report: BundleReport, graph: GraphName, session: InferenceSession, file: string): void {
  const s = report.sizes;
  const dim = (meta: InferenceSession.ValueMetadata | undefined, axis: number): number | undefined => {
    const d = meta?.isTensor ? meta.shape[axis] : undefined;
    return typeof d === 'number' ? d : undefined;
  };
  const input = (name: string) => session.inputMetadata.find((m) => m.name === name);
  const output = (name: string) => session.outputMetadata.find((m) => m.name === name);
  const agree = (what: string, have: number | undefined, key: keyof BundleSizes, source: string) => {
    if (have === undefined) return;
    const want = s[key];
    if (want === undefined) {
      s[key] = have;
    } else if (want !== have) {
      report.issues.push({ severity: 'error', file, problem: `${what} is ${have} but ${source} says ${want}`, fix: FIX_SIZES });
    }
  };
  switch (graph) {
    case 'language_model': {
      const io = GRAPH_IO.language_model;
      const past = session.inputMetadata.filter((m) => /^past_key_values\.\d+\.key$/.test(m.name));
      s.layers = past.length;
      agree('inputs_embeds hidden size', dim(input(io.inputsEmbeds), 2), 'hidden', 'another graph');
      s.kvHeads = dim(past[0], 1);
      s.headDim = dim(past[0], 3);
      report.languageModel.positionIds = session.inputNames.includes(io.positionIds);
      const hs = output(io.hiddenStates);
      if (hs?.isTensor) report.languageModel.hiddenStatesType = hs.type;
      break;
    }
    case 'prepare_inputs_embeds': {
      const io = GRAPH_IO.prepare_inputs_embeds;
      agree('inputs_embeds hidden size', dim(output(io.inputsEmbeds), 2), 'hidden', 'language_model inputs_embeds');
      agree('pixel_values image size', dim(input(io.pixelValues), 3), 'imageSize', 'preprocessor_config.json image_size');
      break;
    }
    case 'lm_head':
      agree('hidden_states size', dim(input(GRAPH_IO.lm_head.hiddenStates), 2), 'hidden', 'language_model inputs_embeds');
      s.textVocab = dim(output(GRAPH_IO.lm_head.logits), 2);
      break;
    case 'gen_head':
      agree('hidden_states size', dim(input(GRAPH_IO.gen_head.hiddenStates), 2), 'hidden', 'language_model inputs_embeds');
      s.codebook = dim(output(GRAPH_IO.gen_head.logits), 2);
      break;
    case 'gen_img_embeds':
      agree('inputs_embeds hidden size', dim(output(GRAPH_IO.gen_img_embeds.inputsEmbeds), 2), 'hidden', 'language_model inputs_embeds');
      break;
    case 'image_decode':
      agree('generated_tokens length', dim(input(GRAPH_IO.image_decode.generatedTokens), 1), 'imageTokens', 'processor_config.json num_image_tokens');
      agree('decoded_image size', dim(output(GRAPH_IO.image_decode.decodedImage), 3), 'imageSize', 'preprocessor_config.json image_size');
      break;
  }
}

/** Sizes read from the graphs (or the engine) against config.json and the other JSON files. */
function compareSizes(report: BundleReport, ctx: Ctx): void {
  const s = report.sizes;
  const lc = (ctx.config?.language_config ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const params = (key: string) => num(((ctx.config?.[key] as { params?: Record<string, unknown> } | undefined)?.params ?? {}).image_token_size);
  const vision = ctx.config?.vision_config as { image_size?: unknown; params?: { image_size?: unknown } } | undefined;
  const heads = num(lc.num_attention_heads);
  const checks: [string, number | undefined, string, number | undefined][] = [
    ['hidden size', s.hidden, 'language_config.hidden_size', num(lc.hidden_size)],
    ['layer count', s.layers, 'language_config.num_hidden_layers', num(lc.num_hidden_layers)],
    ['KV heads', s.kvHeads, lc.num_key_value_heads !== undefined ? 'language_config.num_key_value_heads' : 'language_config.num_attention_heads', num(lc.num_key_value_heads) ?? heads],
    ['head dim', s.headDim, 'language_config.head_dim', num(lc.head_dim) ?? (heads && num(lc.hidden_size) ? num(lc.hidden_size)! / heads : undefined)],
    ['text vocab', s.textVocab, 'language_config.vocab_size', num(lc.vocab_size)],
    ['codebook', s.codebook, 'gen_head_config.params.image_token_size', params('gen_head_config')],
    ['codebook', s.codebook, 'gen_vision_config.params.image_token_size', params('gen_vision_config')],
    ['image size', s.imageSize, 'vision_config image_size', num(vision?.image_size) ?? num(vision?.params?.image_size)],
  ];
  for (const [what, have, field, want] of checks) {
    if (have !== undefined && want !== undefined && have !== want) {
      const graph = what === 'text vocab' ? 'lm_head' : what === 'codebook' ? 'gen_head' : what === 'image size' ? 'preprocessor_config.json' : 'language_model';
      report.issues.push({ severity: 'error', file: 'config.json', problem: `${field} is ${want} but the ${what} of ${graph} is ${have}`, fix: FIX_SIZES });
    }
  }
  const genTokens = ctx.generation?.num_image_tokens;
  if (genTokens !== undefined && s.imageTokens !== undefined && genTokens !== s.imageTokens) {
    report.issues.push({ severity: 'error', file: 'generation_config.json', problem: `num_image_tokens is ${genTokens} but processor_config.json says ${s.imageTokens}`, fix: FIX_SIZES });
  }
  if (report.specialIds && s.textVocab !== undefined) {
    for (const [name, ref] of Object.entries(report.specialIds)) {
      if (ref.id !== null && ref.id >= s.textVocab) {
        const file = ['bos', 'eos', 'cfgPad'].includes(name) ? 'generation_config.json' : 'tokenizer.json';
        report.issues.push({ severity: 'error', file, problem: `${name} id ${ref.id} is outside the text vocabulary (${s.textVocab}) the embeddings and lm_head hold`, fix: FIX_SIZES });
      }
    }
  }
}

// ---- helpers --------------------------------------------------------------------------------------

function finish(report: BundleReport): BundleReport {
  report.usable = !report.issues.some((i) => i.severity === 'error');
  if (isGenerated(report.dir)) for (const i of report.issues) i.fix = generatedFix(i.fix);
  return report;
}

/** A bundle make-tiny-bundle (or the sandbox) wrote: its tokenizer has the generator's reserved-token names. */
function isGenerated(dir: string): boolean {
  try {
    return readFileSync(join(dir, 'tokenizer.json'), 'utf8').includes(RANDOM_WEIGHTS_MARK);
  } catch {
    return false;
  }
}

/**
 * A generated bundle has no repository to download from: a fix that says to download is said as
 * regenerating it, keeping any other way out the fix offers (another --dtype, a config field).
 */
export function generatedFix(fix: string): string {
  if (!/download|huggingface-cli|git lfs/i.test(fix)) return fix;
  const others = fix.split(/, or |; or /).filter((part) => !/download|huggingface-cli|git lfs/i.test(part));
  const regenerate = 'this bundle was generated (random weights), so regenerate it: npm run make-tiny-bundle -- --out DIR (for the sandbox\'s, delete its fixture-model folder and start it again)';
  return others.length ? `${regenerate}, or ${others.join(', or ')}` : regenerate;
}

function missingFolder(dir: string, options: ReportOptions): BundleReport {
  const report = emptyReport(dir, options.device ?? 'cpu', 'no bundle');
  report.issues.push({ severity: 'error', file: dir, problem: 'not found or not a folder', fix: 'pass the bundle folder (the one holding config.json and onnx/)' });
  return report;
}

/** A report that knows nothing yet. */
function emptyReport(dir: string, device: Device, kvWhy: string): BundleReport {
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

/** `FILE_data`, `FILE_data_1`, ... present in `entries`, in chunk order. */
function sidecarsOf(file: string, entries: string[]): string[] {
  return entries
    .filter((e) => e === `${file}_data` || new RegExp(`^${escape(file)}_data_\\d+$`).test(e))
    .sort((a, b) => chunkIndex(a) - chunkIndex(b))
    .map((e) => `onnx/${e}`);
}

function chunkIndex(name: string): number {
  const m = /_data_(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
}

/** The graph file a sidecar belongs to, or null when `name` is no sidecar. */
function sidecarOwner(name: string): string | null {
  const m = /^(.+\.onnx)_data(?:_\d+)?$/.exec(name);
  return m ? m[1] : null;
}

function escape(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function isLfsPointer(path: string): boolean {
  try {
    if (statSync(path).size > 1024) return false;
    return readFileSync(path, 'utf8').startsWith('version https://git-lfs.github.com/spec/');
  } catch {
    return false;
  }
}

function tryJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}

/** "onnx/x.onnx does not match ...: no input ..." -> "does not match ...: no input ..." (the file is shown apart). */
function stripFile(message: string, file: string): string {
  if (message.startsWith(`${file}: `)) return message.slice(file.length + 2);
  return message.startsWith(`${file} `) ? message.slice(file.length + 1) : message;
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}
