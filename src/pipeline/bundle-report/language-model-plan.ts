import type { InferenceSession } from 'onnxruntime-common';
import { planKvAppend } from '../../model/kv-append-graph.ts';
import { defaultGraphCacheDir } from '../../model/kv-append-cache.ts';
import { type BundleReport, type ReportOptions } from './report.ts';
import { firstLine } from '../../util/first-line.ts';

/**
 * The language model's part of checkBundle: its attention form, 4-bit layers and KV strategy, as
 * planKvAppend finds them (decoding the file once, then from its cache), and the rewritten graph
 * opened to prove it loads.
 */
export async function inspectLanguageModel(
  report: BundleReport,
  path: string,
  options: ReportOptions,
  open: (path: string) => Promise<InferenceSession>,
  dtype: string,
): Promise<InferenceSession | undefined> {
  const lm = report.languageModel;
  const cacheDir = options.graphCacheDir === undefined ? defaultGraphCacheDir() : options.graphCacheDir;
  // As the engine chooses it (loaded here only, like onnxruntime-node above).
  const { chooseMatMulLevel, defaultMatMulAccuracy } = await import('../../model/sessions.ts');
  const chosen = await chooseMatMulLevel(dtype, report.device, options.matMulAccuracy ?? defaultMatMulAccuracy(), cacheDir);
  let plan;
  try {
    plan = planKvAppend(path, cacheDir, { matMulLevel: chosen.level });
  } catch (err) {
    report.issues.push({ severity: 'error', file: lm.file!, problem: `cannot be decoded as an ONNX model: ${firstLine(err, 300)}`, fix: 're-download it (a truncated download or a Git LFS pointer file reads like this)' });
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
    lm.kvWhy = `the rewritten graph did not load (${firstLine(err, 300)})`;
    if (lm.matMul) lm.matMul = { ...lm.matMul, runs: null, why: `the file's own (${lm.kvWhy})` };
    return undefined;
  } finally {
    plan.cleanup();
  }
}
