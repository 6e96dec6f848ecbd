import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { BundleError } from '../../errors.ts';
import {
  GenerationConfigSchema,
  ModelConfigSchema,
  PreprocessorConfigSchema,
  ProcessorConfigSchema,
  TokenizerConfigSchema,
  type GenerationConfig,
  type PreprocessorConfig,
  type ProcessorConfig,
} from '../../bundle/bundle-config.ts';
import { DTYPE_SUFFIX, GRAPH_NAMES, graphFileName, type GraphDtype } from '../../bundle/contract.ts';
import { chooseGraphVariant, DEFAULT_DTYPE_ORDER, readBundleJson, type Device } from '../../bundle/load-bundle.ts';
import { externalData } from './external-data.ts';
import { emptyReport, stripFile, type BundleIssue, type BundleReport, type GraphChoice, type GraphReport, type GraphVariantFile, type ReportOptions } from './report.ts';
import { specialIds, templateBos, templates } from './tokenizer-checks.ts';
import { firstLine } from '../../util/first-line.ts';

/**
 * The part of a bundle report read from its files alone, without opening a graph: the JSON files,
 * the graph variants present and which one each device loads, Git LFS pointers, files the loader
 * ignores, then the tokenizer checks and the external data declaration.
 */

export interface Ctx {
  report: BundleReport;
  config: Record<string, unknown> | null;
  generation: GenerationConfig | null;
  preprocessor: PreprocessorConfig | null;
  processor: ProcessorConfig | null;
}

export function staticReport(dir: string, options: ReportOptions): Ctx | null {
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
      issue('error', 'tokenizer.json', `cannot be loaded: ${firstLine(err, 300)}`, 're-download tokenizer.json (and tokenizer_config.json) from the same repository');
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
