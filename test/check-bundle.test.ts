import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBundle, describeLoadedBundle } from '../src/pipeline/bundle-report/check-bundle.ts';
import { engineFacts, type BundleReport } from '../src/pipeline/bundle-report/report.ts';
import { reportLines } from '../src/pipeline/bundle-report/report-lines.ts';
import { GRAPH_NAMES } from '../src/bundle/contract.ts';
import { loadBundle } from '../src/bundle/load-bundle.ts';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { ATTENTION_FORMS, copyTinyBundle, removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';
import { misnamedLmHead } from './helpers/broken-graphs.ts';

after(removeTinyBundles);

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** `npm run check-bundle -- ARGS` as a child process (its own process: exit code and output as a user sees them). */
function runCheck(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/check-bundle.ts', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function readConfig(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
}

function errorLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('error '));
}

// ---- a good bundle --------------------------------------------------------------------------------

test('check-bundle on a good fixture exits 0 and prints its attention form, each graph\'s variants and the variant cpu and cuda load', () => {
  const dir = tinyBundle(1);
  const r = runCheck([dir]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^bundle ${dir.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}: usable on cpu`, 'm'));
  for (const g of GRAPH_NAMES) assert.match(r.stdout, new RegExp(`^graph ${g}: variants fp32 .*; cpu loads fp32 \\(.*default order.*\\); cuda loads fp32 \\(`, 'm'));
  assert.match(r.stdout, /^language model onnx\/language_model\.onnx: concat attention; KV: only each step's new rows are fetched/m);
  assert.match(r.stdout, /position_ids declared/);
  assert.match(r.stdout, /unconditional row \(attention 0 everywhere\): can run/);
  assert.match(r.stdout, /^file onnx\/embed_tokens\.onnx: not used/m);
  assert.match(r.stdout, /^special ids: bos \d+ .*CFG pad \d+ <｜▁pad▁｜> \(generation_config\.pad_token_id/m);
  assert.match(r.stdout, /^chat templates: default, text_to_image \(chat_template as a list/m);
  assert.match(r.stdout, /^external data: onnx\/language_model\.onnx \(1 file\); .* agrees with the files/m);
  assert.deepEqual(errorLines(r.stdout), []);
  assert.equal(r.stderr.includes('    at '), false, 'no stack trace');
});

test('checkBundle reports the attention form, builder variant, KV strategy, position_ids and whether the transformers.js unconditional row can run, for concat, mha, packed gqa and gqa-separate fixtures', async () => {
  const variants = { concat: 'concat', mha: 'mha', gqa: 'gqa-packed', 'gqa-separate': 'gqa-separate' } as const;
  const texts = { concat: /plain ONNX Concat/, mha: /web form/, gqa: /one packed qkv_proj.*cpu\/cuda form/, 'gqa-separate': /separate q\/k\/v with RotaryEmbedding and position_ids.*dml form/ };
  for (const form of ATTENTION_FORMS) {
    const report = await checkBundle(tinyBundle(1, form));
    assert.equal(report.usable, true, `${form}: ${reportLines(report).join('\n')}`);
    const lm = report.languageModel;
    const gqa = form.startsWith('gqa');
    assert.equal(lm.form, gqa ? 'gqa' : form);
    assert.equal(lm.variant, variants[form]);
    assert.ok(reportLines(report).some((l) => l.startsWith('language model form: ') && texts[form].test(l)), `${form}: ${reportLines(report).join('\n')}`);
    assert.equal(lm.kvStrategy, 'new-rows', lm.kvWhy);
    assert.equal(lm.unconditionalRow, !gqa);
    // The builder's packed GroupQueryAttention computes positions inside; the other forms take position_ids.
    assert.equal(lm.positionIds, form !== 'gqa');
    assert.deepEqual(report.sizes, {
      hidden: TINY_DIMS.hidden, layers: TINY_DIMS.layers, kvHeads: TINY_DIMS.heads, headDim: TINY_DIMS.headDim,
      textVocab: (readConfig(tinyBundle(1, form), 'config.json').language_config as { vocab_size: number }).vocab_size,
      codebook: TINY_DIMS.codebookSize, imageSize: TINY_DIMS.imageSize, imageTokens: 576,
    });
    if (gqa) assert.ok(reportLines(report).some((l) => /unconditional row.*cannot run.*--uncond janus/.test(l)));
  }
});

// ---- broken bundles -------------------------------------------------------------------------------

/** A copy of the tiny bundle whose tokenizer no longer carries the generator's reserved-token names: it reads as downloaded. */
function downloadedLike(): string {
  const dir = copyTinyBundle(1);
  const path = join(dir, 'tokenizer.json');
  writeFileSync(path, readFileSync(path, 'utf8').replaceAll('<|fixture_reserved_', '<|reserved_'));
  return dir;
}

test('check-bundle --kv takes device or host only: another value exits 2 naming the two', () => {
  const r = runCheck([tinyBundle(1, 'gqa'), '--kv', 'gpu']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^check-bundle: --kv must be device or host$/m);
  assert.equal(r.stdout, '');
});

test('a bundle without its gen_head graph exits 2 with a line naming the missing file and what to download', () => {
  const dir = downloadedLike();
  rmSync(join(dir, 'onnx', 'gen_head.onnx'));
  const r = runCheck([dir]);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  const errors = errorLines(r.stdout);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^error onnx\/gen_head_q4\.onnx: no gen_head graph .*; fix: download onnx\/gen_head_q4\.onnx/);
  assert.match(r.stdout, /^bundle .*: NOT usable on cpu, 1 problem/m);
  assert.equal(r.stderr.includes('    at '), false, 'no stack trace');
});

test('the fixes for a generated bundle say to regenerate it, not to download from a repository it never came from', () => {
  const dir = copyTinyBundle(1);
  rmSync(join(dir, 'onnx', 'gen_head.onnx'));
  writeFileSync(join(dir, 'processor_config.json'), '{"image_tag": ');
  const r = runCheck([dir]);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  const errors = errorLines(r.stdout);
  assert.ok(errors.length >= 2, errors.join('\n'));
  for (const line of errors) {
    assert.doesNotMatch(line, /download|huggingface-cli|git lfs/i, line);
    assert.match(line, /fix: this bundle was generated \(random weights\), so regenerate it: npm run make-tiny-bundle -- --out DIR/, line);
  }
});

test('a bundle whose processor_config.json is not valid JSON exits 2 with a line naming the file and the fix', () => {
  const dir = downloadedLike();
  writeFileSync(join(dir, 'processor_config.json'), '{"image_tag": "<image_placeholder>",');
  const r = runCheck([dir]);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.deepEqual(errorLines(r.stdout), ['error processor_config.json: is not valid JSON.; fix: re-download processor_config.json (it does not parse as JSON)']);
});

test('a config.json that fails the schema (model_type llama) is a problem naming the file, the field and the fix', async () => {
  const dir = copyTinyBundle(1);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...readConfig(dir, 'config.json'), model_type: 'llama' }));
  const report = await checkBundle(dir);
  assert.equal(report.usable, false);
  const [issue] = report.issues;
  assert.equal(report.issues.length, 1, JSON.stringify(report.issues));
  assert.equal(issue.file, 'config.json');
  assert.match(issue.problem, /model_type/);
  assert.match(issue.fix, /correct the field/);
});

test('a bundle whose lm_head input is renamed (hidden) exits 2 with a line naming onnx/lm_head.onnx, "hidden_states" and the fix', () => {
  const dir = copyTinyBundle(1);
  const vocab = (readConfig(dir, 'config.json').language_config as { vocab_size: number }).vocab_size;
  writeFileSync(join(dir, 'onnx', 'lm_head.onnx'), misnamedLmHead(vocab));
  const r = runCheck([dir]);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  const errors = errorLines(r.stdout);
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /^error onnx\/lm_head\.onnx: does not match the bundle contract: no input named "hidden_states"\.; fix: use a graph exported for this contract/);
});

test('a config.json vocab_size that disagrees with lm_head is a problem naming both sizes', async () => {
  const dir = copyTinyBundle(1);
  const cfg = readConfig(dir, 'config.json');
  const lc = cfg.language_config as { vocab_size: number };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, language_config: { ...lc, vocab_size: lc.vocab_size + 1 } }));
  const report = await checkBundle(dir);
  assert.equal(report.usable, false);
  assert.deepEqual(report.issues.map((i) => [i.file, i.problem]), [
    ['config.json', `language_config.vocab_size is ${lc.vocab_size + 1} but the text vocab of lm_head is ${lc.vocab_size}`],
  ]);
});

test('use_external_data_format that disagrees with the sidecars present is a warning with the count to set; the bundle stays usable', async () => {
  const dir = copyTinyBundle(1);
  const cfg = readConfig(dir, 'config.json');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, 'transformers.js_config': { use_external_data_format: { 'language_model.onnx': 1, 'gen_head.onnx': 1 } } }));
  const report = await checkBundle(dir);
  assert.equal(report.usable, true);
  assert.equal(report.externalData.agrees, false);
  assert.deepEqual(report.issues.map((i) => [i.severity, i.file]), [['warning', 'config.json']]);
  assert.match(report.issues[0].problem, /gen_head\.onnx 1 data file\(s\) but 0 are present/);
  assert.match(report.issues[0].fix, /"gen_head\.onnx": 0/);
  // true means one chunk for every file: only language_model has one.
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, 'transformers.js_config': { use_external_data_format: true } }));
  assert.equal((await checkBundle(dir)).issues.length, GRAPH_NAMES.length - 1);
});

// ---- output forms and the rewrite cache -------------------------------------------------------------

test('--json prints one JSON object carrying the same facts as the lines', () => {
  const dir = tinyBundle(1, 'gqa');
  const json = runCheck([dir, '--json']);
  const lines = runCheck([dir]);
  assert.equal(json.status, 0, json.stderr);
  assert.equal(json.stdout.trim().split('\n').length, 1);
  const report = JSON.parse(json.stdout) as BundleReport;
  // The runs differ only in whether the rewrite came from the cache.
  const sansCache = (text: string) => text.replace(/; (plan read from the rewrite cache|graph decoded once, plan cached)/, '');
  assert.equal(sansCache(lines.stdout.trim()), sansCache(reportLines(report).join('\n')));
  assert.equal(report.usable, true);
  assert.equal(report.languageModel.form, 'gqa');
  assert.equal(report.languageModel.unconditionalRow, false);
  assert.deepEqual(report.chatTemplates.names, ['default', 'text_to_image']);
  assert.deepEqual(report.graphs.map((g) => [g.graph, g.cpu.dtype, g.cuda.dtype]), GRAPH_NAMES.map((g) => [g, 'fp32', 'fp32']));
  assert.ok(report.otherFiles.some((f) => f.file === 'onnx/embed_tokens.onnx' && /^not used/.test(f.note)));
});

test('a second run reads the language model\'s rewrite from planKvAppend\'s cache (fromCache) instead of decoding it again', () => {
  const dir = copyTinyBundle(1, 'mha');
  const cache = mkdtempSync(join(tmpdir(), 'xcot-check-bundle-cache-'));
  try {
    const first = JSON.parse(runCheck([dir, '--json'], { XCOT_GRAPH_CACHE: cache }).stdout) as BundleReport;
    const second = JSON.parse(runCheck([dir, '--json'], { XCOT_GRAPH_CACHE: cache }).stdout) as BundleReport;
    assert.equal(first.languageModel.fromCache, false);
    assert.equal(second.languageModel.fromCache, true);
    assert.equal(second.languageModel.form, 'mha');
    assert.equal(second.languageModel.kvStrategy, 'new-rows');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

// ---- per-graph default dtypes and the loaded engine ------------------------------------------------

test('default dtypes per graph: with every variant present, CPU loads the q4 language model and heads and fp32 small graphs; CUDA loads the q4f16 language model, fp16 heads and fp32 small graphs', async () => {
  const dir = copyTinyBundle(1);
  // Stand-in variants: copies of the fp32 files under the other names (the loader only picks names).
  for (const g of GRAPH_NAMES) for (const suffix of ['_q4', '_q4f16', '_fp16', '_quantized']) copyFileSync(join(dir, 'onnx', `${g}.onnx`), join(dir, 'onnx', `${g}${suffix}.onnx`));
  const dtypes = (device: 'cpu' | 'cuda') => Object.fromEntries(Object.entries(loadBundle(dir, { device }).graphs).map(([g, v]) => [g, v.dtype]));
  assert.deepEqual(dtypes('cpu'), { prepare_inputs_embeds: 'fp32', language_model: 'q4', lm_head: 'q4', gen_head: 'q4', gen_img_embeds: 'fp32', image_decode: 'fp32' });
  assert.deepEqual(dtypes('cuda'), { prepare_inputs_embeds: 'fp32', language_model: 'q4f16', lm_head: 'fp16', gen_head: 'fp16', gen_img_embeds: 'fp32', image_decode: 'fp32' });
  // An explicit dtype wins, and the report says why each variant was chosen.
  assert.equal(loadBundle(dir, { device: 'cpu', dtypes: { image_decode: 'q4' } }).graphs.image_decode.dtype, 'q4');
  const report = await checkBundle(dir, { dtypes: { image_decode: 'q4' } });
  assert.equal(report.usable, true, reportLines(report).join('\n'));
  const graph = (name: string) => report.graphs.find((g) => g.graph === name)!;
  assert.deepEqual([graph('image_decode').cpu.dtype, graph('image_decode').cpu.why], ['q4', 'asked for with --dtype image_decode=q4']);
  assert.deepEqual([graph('language_model').cpu.dtype, graph('language_model').cpu.why], ['q4', 'default order q4 > fp32 > q8 > fp16 > q4f16']);
  assert.deepEqual(graph('gen_img_embeds').variants.map((v) => v.dtype), ['fp32', 'fp16', 'q8', 'q4', 'q4f16']);
});

test('the KV line says what leaves the runtime each step: on webgpu with the cache on the device only the hidden state, in host memory the new rows, without new-row outputs the whole present', async () => {
  const dir = tinyBundle(1, 'gqa');
  const p = await Personalizer.load(dir);
  try {
    const facts = engineFacts(p.model, p.bundle.graphs);
    assert.equal(facts.kvAppend, true, 'the tiny gqa language model outputs its new rows');
    const kvLine = (report: BundleReport) => reportLines(report).find((l) => l.startsWith('language model onnx/')) ?? '';

    const onDevice = describeLoadedBundle(dir, { device: 'webgpu' }, { ...facts, device: 'webgpu', kvOnDevice: true });
    assert.equal(onDevice.languageModel.kvStrategy, 'on-device');
    assert.match(kvLine(onDevice), /KV: the cache stays in WebGPU memory; device graphs write each step's new rows there and only the hidden state is fetched/);
    assert.doesNotMatch(kvLine(onDevice), /rows are fetched|cache is fetched/);

    const hostKv = describeLoadedBundle(dir, { device: 'webgpu' }, { ...facts, device: 'webgpu', kvOnDevice: false });
    assert.equal(hostKv.languageModel.kvStrategy, 'new-rows');
    assert.match(kvLine(hostKv), /KV: only each step's new rows are fetched/);

    const onCpu = describeLoadedBundle(dir, {}, facts);
    assert.equal(onCpu.languageModel.kvStrategy, 'new-rows', `${p.device}: ${kvLine(onCpu)}`);

    const whole = describeLoadedBundle(dir, {}, { ...facts, kvAppend: false, kvOnDevice: false, kvAppendReason: 'turned off (kvAppend: false)' });
    assert.match(kvLine(whole), /KV: the whole present cache is fetched each step \(turned off \(kvAppend: false\)\)/);
  } finally {
    await p.close();
  }
});

test('describeLoadedBundle takes the attention form, KV strategy and device from the loaded JanusModel', async () => {
  const dir = tinyBundle(1, 'gqa');
  const p = await Personalizer.load(dir);
  try {
    const report = describeLoadedBundle(dir, {}, engineFacts(p.model, p.bundle.graphs));
    assert.equal(report.usable, true, reportLines(report).join('\n'));
    assert.equal(report.languageModel.form, p.model.attention);
    assert.equal(report.languageModel.kvStrategy, p.model.kvAppend ? 'new-rows' : 'whole-present');
    assert.equal(report.languageModel.unconditionalRow, p.model.allowsUnattendedRows);
    assert.equal(report.deviceInUse, p.device);
    assert.equal(report.sizes.hidden, p.model.shape.hidden);
    assert.deepEqual(report.graphs.map((g) => g.opened?.file), GRAPH_NAMES.map((g) => `onnx/${g}.onnx`));
  } finally {
    await p.close();
  }
});
