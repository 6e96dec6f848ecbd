import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadBundle } from '../src/bundle/load-bundle.ts';
import { DType, GraphBuilder } from '../src/generator/onnx-builder.ts';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { BundleError } from '../src/errors.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { ChatTokenizer } from '../src/decoding/chat-tokenizer.ts';
import { imagePromptRows } from '../src/pipeline/image-prompt-rows.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { copyTinyBundle, removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';
import { misnamedLmHead } from './helpers/broken-graphs.ts';

after(removeTinyBundles);

/** Runs `fn`, expects a BundleError with `code` whose message is one line matching every pattern. */
async function expectBundleError(fn: () => unknown, code: string, ...patterns: RegExp[]): Promise<BundleError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof BundleError, `expected a BundleError, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)}`);
  assert.equal(thrown.code, code, thrown.message);
  assert.equal(thrown.name, 'BundleError');
  assert.doesNotMatch(thrown.message, /[\r\n]/, 'message is not one line');
  assert.ok(thrown.message.length < 400, 'message is too long to show');
  for (const p of patterns) assert.match(thrown.message, p);
  return thrown;
}

/** The same failure from loadBundle and from Personalizer.load. */
async function expectBoth(dir: string, code: string, ...patterns: RegExp[]): Promise<void> {
  await expectBundleError(() => loadBundle(dir), code, ...patterns);
  await expectBundleError(() => Personalizer.load(dir), code, ...patterns);
}

function vocabOf(dir: string): number {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { language_config: { vocab_size: number } };
  return cfg.language_config.vocab_size;
}

// ---- a bundle that is fine ----------------------------------------------------------------------

test('a generated bundle loads: fp32 graphs, configs parsed, CPU sessions, shape read from the graphs', async () => {
  const dir = tinyBundle(1);
  const bundle = loadBundle(dir);
  for (const [name, g] of Object.entries(bundle.graphs)) {
    assert.equal(g.dtype, 'fp32', name);
    assert.equal(g.path, join(dir, 'onnx', `${name}.onnx`));
  }
  assert.equal(bundle.processor.num_image_tokens, 576);
  const p = await Personalizer.load(dir);
  try {
    assert.equal(p.device, 'cpu');
    assert.deepEqual(p.model.shape, {
      layers: TINY_DIMS.layers,
      kvHeads: TINY_DIMS.heads,
      headDim: TINY_DIMS.headDim,
      hidden: TINY_DIMS.hidden,
      textVocab: vocabOf(dir),
      codebookSize: TINY_DIMS.codebookSize,
      imageSize: TINY_DIMS.imageSize,
      imageTokens: 576,
    });
  } finally {
    await p.close();
  }
});

// ---- broken bundles -------------------------------------------------------------------------------

test('a folder that does not exist', async () => {
  const dir = scratchDir('does-not-exist');
  await expectBoth(dir, 'bundle_missing', /not found/, new RegExp(dir.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')));
});

test('a file where the folder should be', async () => {
  const file = join(tinyBundle(1), 'config.json');
  await expectBoth(file, 'bundle_missing', /not a folder/);
});

test('a bundle without tokenizer.json', async () => {
  const dir = copyTinyBundle(1);
  rmSync(join(dir, 'tokenizer.json'));
  await expectBoth(dir, 'file_missing', /missing tokenizer\.json/);
});

test('a config file that is not valid JSON', async () => {
  const dir = copyTinyBundle(1);
  writeFileSync(join(dir, 'preprocessor_config.json'), '{"image_size": 384,');
  await expectBoth(dir, 'file_invalid', /preprocessor_config\.json/, /not valid JSON/);
});

test('config.json whose model_type is llama fails the schema and names the field', async () => {
  const dir = copyTinyBundle(1);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'llama' }));
  await expectBoth(dir, 'file_invalid', /config\.json/, /model_type/);
});

test('processor_config.json without image_tag fails the schema', async () => {
  const dir = copyTinyBundle(1);
  const cfg = JSON.parse(readFileSync(join(dir, 'processor_config.json'), 'utf8')) as Record<string, unknown>;
  delete cfg.image_tag;
  writeFileSync(join(dir, 'processor_config.json'), JSON.stringify(cfg));
  await expectBoth(dir, 'file_invalid', /processor_config\.json/, /image_tag/);
});

// The tokenizer library's own errors must surface as a BundleError naming the file.
test('a tokenizer.json that is JSON but not a tokenizer', async () => {
  const dir = copyTinyBundle(1);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'Nonsense' } }));
  await expectBundleError(() => Personalizer.load(dir), 'tokenizer_invalid', /tokenizer\.json/);
});

test('a missing graph names the graph and the files looked for', async () => {
  const dir = copyTinyBundle(1);
  rmSync(join(dir, 'onnx', 'gen_head.onnx'));
  await expectBoth(dir, 'graph_missing', /gen_head/, /onnx\/gen_head_q4\.onnx/, /onnx\/gen_head\.onnx/);
});

test('a graph file of garbage bytes', async () => {
  const dir = copyTinyBundle(1);
  writeFileSync(join(dir, 'onnx', 'gen_img_embeds.onnx'), Buffer.from('this is not a protobuf, just some text \x00\x01\x02\xff'.repeat(20), 'latin1'));
  loadBundle(dir); // The folder checks pass; the graph fails when opened.
  await expectBundleError(() => Personalizer.load(dir), 'graph_invalid', /gen_img_embeds\.onnx/);
});

test('a graph whose sidecar is missing', async () => {
  const dir = copyTinyBundle(1);
  // The fp32 language model is the graph with a sidecar, as in the public export.
  rmSync(join(dir, 'onnx', 'language_model.onnx_data'));
  await expectBundleError(() => Personalizer.load(dir), 'graph_invalid', /language_model\.onnx/);
});

test('a graph whose input does not match the contract (hidden instead of hidden_states)', async () => {
  const dir = copyTinyBundle(1);
  writeFileSync(join(dir, 'onnx', 'lm_head.onnx'), misnamedLmHead(vocabOf(dir)));
  await expectBundleError(() => Personalizer.load(dir), 'graph_mismatch', /onnx\/lm_head\.onnx/, /"hidden_states"/);
});

test('a graph input of the wrong element type (int32 image_ids) is reported with the type it has and the one expected', async () => {
  const dir = copyTinyBundle(1);
  const b = new GraphBuilder('gen_img_embeds');
  const ids = b.input('image_ids', DType.int32, ['batch_size', 'sequence_length']);
  b.named('inputs_embeds', 'Cast', [b.o('Unsqueeze', [ids, b.constInt([-1])])], { to: DType.float });
  b.output('inputs_embeds', DType.float, ['batch_size', 'sequence_length', 1]);
  writeFileSync(join(dir, 'onnx', 'gen_img_embeds.onnx'), b.build().model);
  await expectBundleError(() => Personalizer.load(dir), 'graph_mismatch', /gen_img_embeds\.onnx/, /"image_ids" is int32/, /int64/);
});

// ---- dtype variants -------------------------------------------------------------------------------

test('dtype: the CPU default order prefers q4; dtypes picks fp32; an absent dtype names its file', async () => {
  const dir = copyTinyBundle(1);
  // A q4 "variant" that is the fp32 graph under another name (weights inline, as q4 graphs are).
  copyFileSync(join(dir, 'onnx', 'lm_head.onnx'), join(dir, 'onnx', 'lm_head_q4.onnx'));

  const auto = loadBundle(dir);
  assert.equal(auto.graphs.lm_head.dtype, 'q4');
  assert.equal(auto.graphs.lm_head.path, join(dir, 'onnx', 'lm_head_q4.onnx'));
  assert.equal(auto.graphs.gen_head.dtype, 'fp32', 'graphs without a q4 file fall back to fp32');

  const fp32 = loadBundle(dir, { dtypes: { lm_head: 'fp32' } });
  assert.equal(fp32.graphs.lm_head.dtype, 'fp32');
  assert.equal(fp32.graphs.lm_head.path, join(dir, 'onnx', 'lm_head.onnx'));

  const p = await Personalizer.load(dir);
  await p.close();

  await expectBundleError(() => loadBundle(dir, { dtypes: { lm_head: 'fp16' } }), 'graph_missing', /onnx\/lm_head_fp16\.onnx/);
  const err = await expectBundleError(() => Personalizer.load(dir, { dtypes: { lm_head: 'fp16' } }), 'graph_missing');
  assert.doesNotMatch(err.message, /lm_head(_q4)?\.onnx[,)]/, 'an explicit dtype must not fall back to other files');
});

test('dtype: the chosen variant is the file that gets opened', async () => {
  const dir = copyTinyBundle(1);
  // A broken q4 variant next to a good fp32 graph: the default picks (and fails on) q4, fp32 loads.
  writeFileSync(join(dir, 'onnx', 'lm_head_q4.onnx'), misnamedLmHead(vocabOf(dir)));
  await expectBundleError(() => Personalizer.load(dir), 'graph_mismatch', /onnx\/lm_head_q4\.onnx/);
  const p = await Personalizer.load(dir, { dtypes: { lm_head: 'fp32' } });
  try {
    assert.equal(p.bundle.graphs.lm_head.dtype, 'fp32');
  } finally {
    await p.close();
  }
});

test('dtype: on CUDA the default order looks for fp16 first', () => {
  const dir = copyTinyBundle(1);
  copyFileSync(join(dir, 'onnx', 'gen_head.onnx'), join(dir, 'onnx', 'gen_head_fp16.onnx'));
  copyFileSync(join(dir, 'onnx', 'gen_head.onnx'), join(dir, 'onnx', 'gen_head_q4.onnx'));
  assert.equal(loadBundle(dir, { device: 'cuda' }).graphs.gen_head.dtype, 'fp16');
  assert.equal(loadBundle(dir, { device: 'cpu' }).graphs.gen_head.dtype, 'q4');
  renameSync(join(dir, 'onnx', 'gen_head_fp16.onnx'), join(dir, 'onnx', 'gen_head_q4f16.onnx'));
  assert.equal(loadBundle(dir, { device: 'cuda' }).graphs.gen_head.dtype, 'q4f16');
});

// ---- device -----------------------------------------------------------------------------------------

test('device cuda without a usable CUDA provider falls back to CPU and says why, once', async () => {
  const reasons: string[] = [];
  const p = await Personalizer.load(tinyBundle(1), { device: 'cuda', onFallback: (r) => reasons.push(r) });
  try {
    if (p.device === 'cuda') {
      // A machine where the CUDA provider really loads: nothing to fall back from.
      assert.deepEqual(reasons, []);
      return;
    }
    assert.equal(p.device, 'cpu');
    assert.equal(reasons.length, 1, reasons.join(' | '));
    assert.match(reasons[0], /CUDA/);
    assert.match(reasons[0], /CPU/);
    assert.doesNotMatch(reasons[0], /[\r\n]/);
    // The fallback sessions work.
    const g = await p.generate({ prompt: 'a dog', greedy: true, cfgWeight: 1, seed: 0 });
    assert.equal(g.images[0].imageTokens.length, 576);
  } finally {
    await p.close();
  }
});

// ---- tokenizer_config.json chat templates and the CFG pad ----------------------------------------

const MESSAGES = [{ role: '<|User|>', content: 'a dog wearing a space suit on the moon' }];

test('the object-form chat_template gives the same templates and prompt ids as the list form', () => {
  const dir = scratchDir('object-templates');
  makeBundle({ out: dir, seed: 1, dims: TINY_DIMS, chatTemplateForm: 'object' });
  const asObject = new ChatTokenizer(loadBundle(dir));
  const asList = new ChatTokenizer(loadBundle(tinyBundle(1)));
  for (const name of ['default', 'text_to_image']) {
    const text = asObject.render(name, MESSAGES);
    assert.equal(text, asList.render(name, MESSAGES));
    assert.deepEqual(asObject.encode(text, 0).ids, asList.encode(asList.render(name, MESSAGES), 0).ids);
  }
  assert.doesNotThrow(() => asObject.requireTemplates(['default', 'text_to_image']));
});

test('a chat_template object whose values are not strings fails the schema', async () => {
  const dir = copyTinyBundle(1);
  const path = join(dir, 'tokenizer_config.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), chat_template: { default: 3 } }));
  await expectBoth(dir, 'file_invalid', /tokenizer_config\.json/, /chat_template/);
});

test('the uncond row uses generation_config.pad_token_id (the <｜▁pad▁｜> id), not the tokenizer\'s pad_token', () => {
  const dir = tinyBundle(1);
  const bundle = loadBundle(dir);
  const tok = new ChatTokenizer(bundle);
  const idOf = (t: string) => tok.encode(t, 0).ids;
  const [cfgPad] = idOf('<｜▁pad▁｜>');
  const [tokenizerPad] = idOf(bundle.tokenizerConfig.pad_token as string);
  assert.notEqual(cfgPad, tokenizerPad);
  assert.equal(bundle.generation.pad_token_id, cfgPad);
  assert.equal(tok.pad, cfgPad);

  const prompt = tok.encode(tok.render('text_to_image', MESSAGES), 0);
  for (const mode of ['janus', 'transformers-js'] as const) {
    const [cond, uncond] = imagePromptRows(prompt, true, mode, tok.pad);
    assert.deepEqual(cond.ids, prompt.ids);
    const padded = mode === 'janus' ? uncond.ids.slice(1, -1) : uncond.ids;
    assert.ok(padded.length > 0 && padded.every((id) => id === cfgPad), `${mode}: ${uncond.ids.join(' ')}`);
    assert.ok(!uncond.ids.includes(tokenizerPad), `${mode}: the tokenizer's pad_token is in the uncond row`);
    if (mode === 'janus') {
      // The official recipe keeps BOS and <begin_of_image>.
      assert.equal(uncond.ids[0], prompt.ids[0]);
      assert.equal(uncond.ids.at(-1), idOf('<begin_of_image>')[0]);
    }
  }
});

test('without generation_config.pad_token_id the uncond pad falls back to <｜▁pad▁｜> (VLChatProcessor\'s pad_tag), not the tokenizer\'s pad_token', () => {
  const dir = copyTinyBundle(1);
  const path = join(dir, 'generation_config.json');
  const { pad_token_id: cfgPad, ...rest } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify(rest));
  const bundle = loadBundle(dir);
  assert.equal(bundle.generation.pad_token_id, undefined);
  assert.equal(new ChatTokenizer(bundle).pad, cfgPad);
});
