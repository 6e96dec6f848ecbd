import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-common';
import { BundleError } from '../../errors.ts';
import { checkGraphContract } from '../../bundle/check-graph-contract.ts';
import { RANDOM_WEIGHTS_MARK, type Device } from '../../bundle/load-bundle.ts';
import { staticReport } from './bundle-files.ts';
import { compareSizes, readGraphSizes } from './graph-sizes.ts';
import { inspectLanguageModel } from './language-model-plan.ts';
import { emptyReport, stripFile, type BundleReport, type EngineFacts, type ReportOptions } from './report.ts';
import { firstLine } from '../../util/first-line.ts';

/**
 * One summary of a bundle, for `npm run check-bundle`, the CLI and the bot: which files it has,
 * which variant each graph loads on CPU and CUDA and why, the language model's attention form and
 * KV strategy, special ids, chat templates, external data, and every deviation from the contract
 * with what to do about it. checkBundle() opens each graph it needs once (metadata only) and lets
 * planKvAppend decode the language model (once, then from its cache); describeLoadedBundle() opens
 * nothing and takes the language model's facts from the loaded engine.
 */

const FIX_CONTRACT = 'use a graph exported for this contract (tensor names in models/README.md, "Graphs"; transformers.js reads the same names)';

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
        report.deviceNote = `the CUDA execution provider did not load here (${firstLine(err, 300)}); graphs were opened on CPU to read their names`;
        return session;
      }
    }
    return ort.InferenceSession.create(path, opts(['cpu']));
  };
  if (device === 'webgpu') {
    // Compiling WebGPU shaders to read names would take minutes on a software driver: names are
    // read on CPU, and the adapter is probed (as the engine does) to say whether webgpu would run.
    const { probeWebGpu } = await import('../../model/webgpu-probe.ts');
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
      // As the engine places it: new rows on a working WebGPU adapter stay there unless --kv host.
      const lm = report.languageModel;
      if (lm.kvStrategy === 'new-rows' && report.deviceInUse === 'webgpu' && options.kv !== 'host') lm.kvStrategy = 'on-device';
    }
    try {
      session ??= await open(path);
    } catch (err) {
      // Checking a CUDA set where CUDA is absent: a float16 graph may lack CPU kernels, which says nothing about CUDA.
      const elsewhere = (report.device === 'cuda' && report.deviceInUse === 'cpu') || report.device === 'webgpu';
      report.issues.push({
        severity: elsewhere ? 'warning' : 'error',
        file: choice.file,
        problem: `cannot be opened by ONNX Runtime${elsewhere ? ` on CPU (${report.device === 'webgpu' ? 'names are read on CPU' : 'CUDA is not available here'}), so it was not checked` : ''}: ${firstLine(err, 300)}`,
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
  lm.kvStrategy = facts.kvAppend ? (facts.kvOnDevice ? 'on-device' : 'new-rows') : 'whole-present';
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
