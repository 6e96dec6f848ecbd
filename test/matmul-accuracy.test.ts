/**
 * MatMulNBits accuracy_level: the generator writes 0 (float32 compute, onnxruntime-genai builder's
 * default when the public export was made) or 4 (int8 compute); on CPU the engine runs a q4 language
 * model at the fastest level it measured correct, in the load-time rewrite, unless told to keep the
 * file's own. Parity with transformers.js holds at the file's own level.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { MultiModalityCausalLM } from '@huggingface/transformers';
import { checkBundle } from '../src/pipeline/bundle-report/check-bundle.ts';
import { reportLines } from '../src/pipeline/bundle-report/report-lines.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { fastestMatMulLevel, MAX_RELATIVE_ERROR, readMatMulLevels } from '../src/model/matmul-accuracy.ts';
import { planKvAppend } from '../src/model/kv-append-graph.ts';
import { defaultGraphCacheDir } from '../src/model/kv-append-cache.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';
import { firstDifference, loadReference, parityPhotos } from './helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit on the moon';
const TOKENS = 576;
/** The builder's cpu form (packed GroupQueryAttention) at accuracy level 0, q4 language model and heads. */
const level0 = () => tinyBundle(1, 'gqa', ['q4'], { accuracyLevel: 0 });
const levels = (path: string) => readMatMulLevels(onnxProto.onnx.ModelProto.decode(readFileSync(path)).graph!);

let exact: Personalizer;
let fast: Personalizer;

before(async () => {
  exact = await Personalizer.load(level0(), { intraOpThreads: 1, matMulAccuracy: 'file' });
  fast = await Personalizer.load(level0(), { intraOpThreads: 1, matMulAccuracy: 4 });
});

after(async () => {
  await exact?.close();
  await fast?.close();
  removeTinyBundles();
});

test('the generator writes the accuracy level asked for on every MatMulNBits of every q4 graph (0 and 4)', () => {
  for (const level of [0, 4] as const) {
    const dir = tinyBundle(1, 'gqa', ['q4'], { accuracyLevel: level });
    for (const graph of ['language_model', 'lm_head', 'gen_head']) {
      const found = levels(`${dir}/onnx/${graph}_q4.onnx`);
      assert.ok(found.count > 0, graph);
      assert.deepEqual(found.levels, [level], `${graph} at ${level}`);
    }
  }
});

test('on CPU the rewrite runs the language model at the level chosen, and --exact (file) keeps the file\'s own; the bundle is not changed', () => {
  assert.deepEqual([exact.model.matMul?.fileLevels, exact.model.matMul?.runs], [[0], null]);
  assert.match(exact.model.matMul!.why, /the file's own/);
  assert.deepEqual([fast.model.matMul?.fileLevels, fast.model.matMul?.runs], [[0], 4]);
  const lm = `${level0()}/onnx/language_model_q4.onnx`;
  assert.deepEqual(levels(lm).levels, [0], 'the file keeps level 0');
  const rewritten = planKvAppend(lm, defaultGraphCacheDir(), { matMulLevel: 4 });
  assert.ok(!('reason' in rewritten));
  assert.equal(rewritten.fromCache, true, 'the load made this rewrite and kept it');
  assert.deepEqual(levels(rewritten.path).levels, [4]);
  assert.deepEqual(rewritten.matMul, { count: levels(lm).count, fileLevels: [0], runs: 4 });
});

test('at the file\'s own level (0) the packed-gqa q4 fixture equals transformers.js token for token (greedy text-to-image)', async () => {
  const r = await loadReference(level0(), 'q4');
  try {
    const inputs = await r.processor([{ role: '<|User|>', content: PROMPT }], { chat_template: 'text_to_image' });
    r.model._generation_mode = 'image';
    const base = Object.getPrototypeOf(MultiModalityCausalLM.prototype) as { generate: (o: unknown) => Promise<any> };
    const all = await base.generate.call(r.model, { ...inputs, min_new_tokens: TOKENS, max_new_tokens: TOKENS, do_sample: false, guidance_scale: 1 });
    const expected = (all.tolist()[0] as bigint[]).slice(inputs.input_ids.dims[1]).map(Number);
    const g = await exact.generate({ prompt: PROMPT, greedy: true, cfgWeight: 1 });
    assert.deepEqual(g.images[0].imageTokens, expected, `first difference ${firstDifference(g.images[0].imageTokens, expected)}`);
  } finally {
    await r.model.dispose();
  }
});

test('at level 4 the X-CoT stays sane on the tiny fixture: finite hidden states within 5% of level 0, valid grounding and image tokens', async () => {
  const H = exact.model.shape.hidden;
  const embeds = new ort.Tensor('float32', Float32Array.from({ length: 6 * H }, (_, i) => Math.sin(i * 0.37)), [1, 6, H]);
  const mask = new BigInt64Array(6).fill(1n);
  const a = (await exact.model.decode(embeds, exact.model.emptyCache(1), mask)).hidden.data as Float32Array;
  const b = (await fast.model.decode(embeds, fast.model.emptyCache(1), mask)).hidden.data as Float32Array;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    assert.ok(Number.isFinite(b[i]), `hidden ${i} is ${b[i]}`);
    diff += (a[i] - b[i]) ** 2;
    norm += a[i] ** 2;
  }
  const relative = Math.sqrt(diff / norm);
  assert.ok(relative > 0, 'level 4 computes differently (int8 activations)');
  assert.ok(relative < 0.05, `hidden states moved by ${relative}`);

  const photos = await parityPhotos();
  const request = async (p: Personalizer) => {
    const subject = await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
    const grounding = await p.ground(subject, { name: 'Rex' }, { maxNewTokens: 12 });
    const image = await p.generate({ prompt: PROMPT, subject, grounding: grounding.text, cfgWeight: 5, uncond: 'janus', seed: 3 });
    return { grounding: grounding.tokenIds, image: image.images[0] };
  };
  const [want, got] = [await request(exact), await request(fast)];
  // The random-weight fixture's logits are nearly flat, so near-ties can flip (grounding tokens were
  // equal in most runs here, sampled image codes part ways after a few steps; README "4-bit layers"):
  // what must hold is valid tokens of the right count and an image that decodes.
  assert.ok(want.grounding.length > 0 && got.grounding.length > 0 && got.grounding.length <= 12);
  assert.ok(got.grounding.every((t) => Number.isInteger(t) && t >= 0 && t < exact.model.shape.textVocab));
  assert.equal(got.image.imageTokens.length, TOKENS);
  assert.ok(got.image.imageTokens.every((t) => Number.isInteger(t) && t >= 0 && t < exact.model.shape.codebookSize));
  assert.ok(got.image.data.length > 0);
});

test('fastest: the level chosen was measured correct (within 2% of level 0) and at least as fast as level 0; the answer is kept per machine', async () => {
  const choice = await fastestMatMulLevel(defaultGraphCacheDir(), 1);
  const chosen = choice.measured.find((m) => m.level === choice.level)!;
  const base = choice.measured.find((m) => m.level === 0)!;
  assert.ok(chosen.correct && chosen.relativeError <= MAX_RELATIVE_ERROR);
  assert.ok(chosen.ms <= base.ms);
  for (const m of choice.measured) assert.equal(m.correct, m.relativeError <= MAX_RELATIVE_ERROR, `level ${m.level}`);
  const again = await fastestMatMulLevel(defaultGraphCacheDir(), 1);
  assert.equal(again.fromCache, true);
  assert.equal(again.level, choice.level);
  const p = await Personalizer.load(level0(), { intraOpThreads: 1 });
  try {
    assert.equal(p.model.matMul?.runs, choice.level === 0 ? null : choice.level);
    assert.match(p.model.matMul!.why, /fastest measured correct on this CPU/);
  } finally {
    await p.close();
  }
});

test('check-bundle names the file\'s level and the one that runs; --exact and MATMUL_ACCURACY=file keep the file\'s own', async () => {
  const line = (lines: string[]) => lines.find((l) => l.startsWith('language model 4-bit layers:'))!;
  const forced = await checkBundle(level0(), { matMulAccuracy: 'file' });
  assert.match(line(reportLines(forced)), /MatMulNBits, accuracy_level 0 in the file; runs at 0: the file's own/);
  const fastest = await checkBundle(level0());
  assert.match(line(reportLines(fastest)), /accuracy_level 0 in the file; runs at \d: the fastest measured correct on this CPU/);
  const script = fileURLToPath(new URL('../scripts/check-bundle.ts', import.meta.url));
  for (const [argv, env] of [[['--exact'], {}], [[], { MATMUL_ACCURACY: 'file' }]] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, level0(), ...argv], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(line(r.stdout.split('\n')), /runs at 0: the file's own \(asked for/);
  }
});
