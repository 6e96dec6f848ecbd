import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { Tokenizer } from '@huggingface/tokenizers';
import { checkGraphContract } from '../src/bundle/check-graph-contract.ts';
import { GRAPH_NAMES, type GraphName } from '../src/bundle/contract.ts';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const D = TINY_DIMS;
const GRID_TOKENS = (D.imageSize / D.patchSize) ** 2;

after(removeTinyBundles);

// ---- helpers --------------------------------------------------------------------------------

/** Every file under `dir`, relative path -> sha256. */
function hashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.set(relative(dir, p).split('\\').join('/'), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

function readJson(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
}

function tokenizerSize(dir: string): number {
  const tj = readJson(dir, 'tokenizer.json') as { model: { vocab: Record<string, number> }; added_tokens: unknown[] };
  return Object.keys(tj.model.vocab).length + tj.added_tokens.length;
}

function runCli(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-tiny-bundle.ts', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

const CONFIG_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer_config.json',
];
const GRAPH_FILES = GRAPH_NAMES.map((g) => `onnx/${g}.onnx`);
/** Graphs the public export ships that transformers.js (and our loader) never open. */
const UNUSED_GRAPH_FILES = ['onnx/embed_tokens.onnx'];
/** As in the public export, only the fp32 language model keeps its weights in a sidecar. */
const SIDECAR_FILES = ['onnx/language_model.onnx_data'];

// ---- determinism and layout -------------------------------------------------------------------

test('the same seed gives byte-identical files, every file in the folder', () => {
  const a = tinyBundle(1);
  const b = scratchDir('again-1');
  makeBundle({ out: b, seed: 1, dims: TINY_DIMS });
  const ha = hashes(a);
  const hb = hashes(b);
  assert.deepEqual([...hb.keys()].sort(), [...ha.keys()].sort());
  for (const [file, hash] of ha) assert.equal(hb.get(file), hash, `${file} differs between two runs with seed 1`);
});

test('a different seed changes every graph file and the language model\'s sidecar, but none of the JSON files', () => {
  const a = hashes(tinyBundle(1));
  const b = hashes(tinyBundle(2));
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const file of CONFIG_FILES) assert.equal(b.get(file), a.get(file), `${file} should not depend on the seed`);
  for (const file of SIDECAR_FILES) assert.notEqual(b.get(file), a.get(file), `${file} should depend on the seed`);
  // Inline weights (every graph but the fp32 language model) and the language model's small norms.
  for (const graph of [...GRAPH_FILES, ...UNUSED_GRAPH_FILES]) assert.notEqual(b.get(graph), a.get(graph), `${graph} should depend on the seed`);
});

test('the layout is the public export\'s: seven JSON files, six graphs plus the unused embed_tokens, and a sidecar only for the fp32 language model', () => {
  const dir = tinyBundle(1);
  const files = [...hashes(dir).keys()].sort();
  const expected = [...CONFIG_FILES, ...GRAPH_FILES, ...UNUSED_GRAPH_FILES, ...SIDECAR_FILES].sort();
  assert.deepEqual(files, expected);
  for (const name of CONFIG_FILES) assert.doesNotThrow(() => readJson(dir, name), `${name} is not JSON`);
});

/** Initializers of a graph file that point to external data. */
function externalInitializers(dir: string, graph: string) {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(join(dir, graph)));
  return model.graph!.initializer!.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
}

test('q4 graphs have no sidecar, and use_external_data_format maps exactly the files that have one to 1 chunk', () => {
  const dir = scratchDir('fp32-q4');
  makeBundle({ out: dir, seed: 1, dims: TINY_DIMS, variants: ['fp32', 'q4'] });
  const onnxFiles = readdirSync(join(dir, 'onnx'));
  const q4Graphs = onnxFiles.filter((f) => f.endsWith('_q4.onnx'));
  assert.deepEqual(q4Graphs.sort(), [...GRAPH_NAMES, 'embed_tokens'].map((g) => `${g}_q4.onnx`).sort());
  for (const graph of q4Graphs) {
    assert.equal(existsSync(join(dir, 'onnx', `${graph}_data`)), false, `${graph} has a sidecar`);
    assert.equal(externalInitializers(dir, `onnx/${graph}`).length, 0, `${graph} points to external data`);
  }
  const withSidecar = onnxFiles.filter((f) => f.endsWith('.onnx') && existsSync(join(dir, 'onnx', `${f}_data`)));
  assert.deepEqual(withSidecar, ['language_model.onnx']);
  assert.deepEqual(onnxFiles.filter((f) => !f.endsWith('.onnx')), ['language_model.onnx_data'], 'a sidecar without its graph');
  const config = readJson(dir, 'config.json') as { 'transformers.js_config': { use_external_data_format: unknown } };
  assert.deepEqual(config['transformers.js_config'].use_external_data_format, { 'language_model.onnx': 1 });
});

test('the fp32 language model\'s large initializers live in its own sidecar, inside its bounds and 64-byte aligned; other graphs are inline', () => {
  const dir = tinyBundle(1);
  const { onnx } = onnxProto;
  for (const graph of [...GRAPH_FILES, ...UNUSED_GRAPH_FILES]) {
    const model = onnx.ModelProto.decode(readFileSync(join(dir, graph)));
    const external = externalInitializers(dir, graph);
    if (!SIDECAR_FILES.includes(`${graph}_data`)) {
      assert.equal(external.length, 0, `${graph} points to external data`);
      continue;
    }
    const sidecarBytes = statSync(join(dir, `${graph}_data`)).size;
    assert.ok(external.length > 0, `${graph} has no external initializers`);
    let end = 0;
    for (const t of external) {
      const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      assert.equal(kv.location, `${graph.slice('onnx/'.length)}_data`, `${graph}: ${t.name} points elsewhere`);
      const offset = Number(kv.offset);
      const length = Number(kv.length);
      assert.equal(offset % 64, 0, `${graph}: ${t.name} offset ${offset} is not aligned`);
      assert.ok(offset + length <= sidecarBytes, `${graph}: ${t.name} runs past the sidecar`);
      end = Math.max(end, offset + length);
    }
    assert.equal(end, sidecarBytes, `${graph}: the sidecar has trailing bytes`);
    for (const t of model.graph!.initializer!.filter((x) => x.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL)) {
      assert.ok((t.rawData?.byteLength ?? 0) < 1024, `${graph}: ${t.name} is large but inline`);
    }
  }
});

test('the JSON configs agree with the dims and with each other', () => {
  const dir = tinyBundle(1);
  const vocab = tokenizerSize(dir);
  const config = readJson(dir, 'config.json') as { model_type: string; language_config: Record<string, number> };
  assert.equal(config.model_type, 'multi_modality');
  assert.equal(config.language_config.hidden_size, D.hidden);
  assert.equal(config.language_config.num_hidden_layers, D.layers);
  assert.equal(config.language_config.vocab_size, vocab);
  const gen = readJson(dir, 'generation_config.json');
  const proc = readJson(dir, 'processor_config.json');
  assert.equal(gen.num_image_tokens, GRID_TOKENS);
  assert.equal(proc.num_image_tokens, GRID_TOKENS);
  assert.equal(readJson(dir, 'preprocessor_config.json').image_size, D.imageSize);
  const tc = readJson(dir, 'tokenizer_config.json') as { chat_template: { name: string }[] };
  assert.deepEqual(tc.chat_template.map((t) => t.name).sort(), ['default', 'text_to_image']);
});

test('generation, preprocessor and processor configs hold the public export\'s keys and values', () => {
  const dir = tinyBundle(1);
  const tok = loadTokenizer(dir);
  const id = (t: string) => tok.token_to_id(t);
  // onnx-community/Janus-Pro-1B-ONNX (and Janus-1.3B-ONNX) generation_config.json, ids from our tokenizer.
  assert.deepEqual(readJson(dir, 'generation_config.json'), {
    bos_token_id: id('<｜begin▁of▁sentence｜>'),
    eos_token_id: id('<｜end▁of▁sentence｜>'),
    do_sample: true,
    num_image_tokens: 576,
    pad_token_id: id('<｜▁pad▁｜>'),
    temperature: 0.7,
    top_p: 0.95,
  });
  assert.deepEqual(readJson(dir, 'preprocessor_config.json'), {
    background_color: [127, 127, 127],
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'VLMImageProcessor',
    image_size: 384,
    image_std: [0.5, 0.5, 0.5],
    min_size: 14,
    processor_class: 'VLChatProcessor',
    rescale_factor: 0.00392156862745098,
  });
  assert.deepEqual(readJson(dir, 'processor_config.json'), {
    add_special_token: false,
    ignore_id: -100,
    image_tag: '<image_placeholder>',
    image_start_tag: '<begin_of_image>',
    image_end_tag: '<end_of_image>',
    mask_prompt: true,
    num_image_tokens: 576,
    processor_class: 'VLChatProcessor',
    sft_format: 'deepseek',
  });
  // Byte for byte the public layout (two-space JSON): the public files are 346 and 288 bytes.
  assert.equal(statSync(join(dir, 'preprocessor_config.json')).size, 346);
  assert.equal(statSync(join(dir, 'processor_config.json')).size, 288);
});

test('chatTemplateForm \'object\' writes the same templates as an object name -> template', () => {
  const dir = scratchDir('object-templates');
  makeBundle({ out: dir, seed: 1, dims: TINY_DIMS, chatTemplateForm: 'object' });
  const list = readJson(tinyBundle(1), 'tokenizer_config.json').chat_template as { name: string; template: string }[];
  const object = readJson(dir, 'tokenizer_config.json').chat_template as Record<string, string>;
  assert.ok(!Array.isArray(object));
  assert.deepEqual(object, Object.fromEntries(list.map((t) => [t.name, t.template])));
  // Nothing else changes.
  const a = hashes(tinyBundle(1));
  for (const [file, hash] of hashes(dir)) if (file !== 'tokenizer_config.json') assert.equal(hash, a.get(file), file);
});

test('embed_tokens maps input_ids [batch, sequence] to the same embeddings prepare_inputs_embeds gives text tokens', async () => {
  const dir = tinyBundle(1);
  const vocab = tokenizerSize(dir);
  const embed = await ort.InferenceSession.create(join(dir, 'onnx', 'embed_tokens.onnx'));
  const prepare = await ort.InferenceSession.create(join(dir, 'onnx', 'prepare_inputs_embeds.onnx'));
  try {
    const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
      list.map((m) => (m.isTensor ? [m.name, m.type, [...m.shape]] : [m.name, 'non-tensor', []]));
    assert.deepEqual(meta(embed.inputMetadata), [['input_ids', 'int64', ['batch_size', 'sequence_length']]]);
    assert.deepEqual(meta(embed.outputMetadata), [['inputs_embeds', 'float32', ['batch_size', 'sequence_length', D.hidden]]]);
    const ids = BigInt64Array.from([0, 5, 300, vocab - 1, 17, 2].map(BigInt));
    const input_ids = new ort.Tensor('int64', ids, [2, 3]);
    const mine = (await embed.run({ input_ids })).inputs_embeds;
    assert.deepEqual(mine.dims, [2, 3, D.hidden]);
    const ref = (await prepare.run({
      input_ids,
      pixel_values: new ort.Tensor('float32', new Float32Array(0), [2, 0, 3, D.imageSize, D.imageSize]),
      images_seq_mask: new ort.Tensor('bool', new Uint8Array(6), [2, 3]),
      images_emb_mask: new ort.Tensor('bool', new Uint8Array(0), [2, 0, GRID_TOKENS]),
    })).inputs_embeds;
    assert.deepEqual(Array.from(mine.data as Float32Array), Array.from(ref.data as Float32Array));
  } finally {
    await embed.release();
    await prepare.release();
  }
});

// ---- graphs against the contract --------------------------------------------------------------

type Io = [name: string, type: string, shape: (string | number)[]];

function expectedIo(vocab: number): Record<GraphName, { inputs: Io[]; outputs: Io[] }> {
  const H = D.hidden;
  const S = D.imageSize;
  const kv: (string | number)[] = ['batch_size', D.heads, 'past_sequence_length', D.headDim];
  const present: (string | number)[] = ['batch_size', D.heads, 'total_sequence_length', D.headDim];
  const layers = Array.from({ length: D.layers }, (_, i) => i);
  return {
    prepare_inputs_embeds: {
      inputs: [
        ['input_ids', 'int64', ['batch_size', 'sequence_length']],
        ['pixel_values', 'float32', ['batch_size', 'num_images', 3, S, S]],
        ['images_seq_mask', 'bool', ['batch_size', 'sequence_length']],
        ['images_emb_mask', 'bool', ['batch_size', 'num_images', 'num_image_tokens']],
      ],
      outputs: [['inputs_embeds', 'float32', ['batch_size', 'sequence_length', H]]],
    },
    language_model: {
      inputs: [
        ['inputs_embeds', 'float32', ['batch_size', 'sequence_length', H]],
        ['attention_mask', 'int64', ['batch_size', 'total_sequence_length']],
        ['position_ids', 'int64', ['batch_size', 'sequence_length']],
        ...layers.flatMap((i): Io[] => [
          [`past_key_values.${i}.key`, 'float32', kv],
          [`past_key_values.${i}.value`, 'float32', kv],
        ]),
      ],
      outputs: [
        ...layers.flatMap((i): Io[] => [
          [`present.${i}.key`, 'float32', present],
          [`present.${i}.value`, 'float32', present],
        ]),
        ['hidden_states', 'float32', ['batch_size', 'sequence_length', H]],
      ],
    },
    lm_head: {
      inputs: [['hidden_states', 'float32', ['batch_size', 'sequence_length', H]]],
      outputs: [['logits', 'float32', ['batch_size', 'sequence_length', vocab]]],
    },
    gen_head: {
      inputs: [['hidden_states', 'float32', ['batch_size', 'sequence_length', H]]],
      outputs: [['logits', 'float32', ['batch_size', 'sequence_length', D.codebookSize]]],
    },
    gen_img_embeds: {
      inputs: [['image_ids', 'int64', ['batch_size', 'sequence_length']]],
      outputs: [['inputs_embeds', 'float32', ['batch_size', 'sequence_length', H]]],
    },
    image_decode: {
      inputs: [['generated_tokens', 'int64', ['batch_size', GRID_TOKENS]]],
      outputs: [['decoded_image', 'float32', ['batch_size', 3, S, S]]],
    },
  };
}

test('each graph loads in onnxruntime-node with exactly the contract\'s names, types and shapes', async () => {
  const dir = tinyBundle(1);
  const expected = expectedIo(tokenizerSize(dir));
  for (const graph of GRAPH_NAMES) {
    const session = await ort.InferenceSession.create(join(dir, 'onnx', `${graph}.onnx`));
    try {
      const want = expected[graph];
      assert.deepEqual([...session.inputNames], want.inputs.map((x) => x[0]), `${graph} input names`);
      assert.deepEqual([...session.outputNames], want.outputs.map((x) => x[0]), `${graph} output names`);
      const meta = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
        list.map((m) => (m.isTensor ? [m.name, m.type, [...m.shape]] : [m.name, 'non-tensor', []]));
      assert.deepEqual(meta(session.inputMetadata), want.inputs, `${graph} input metadata`);
      assert.deepEqual(meta(session.outputMetadata), want.outputs, `${graph} output metadata`);
      // And the loader's own check agrees.
      assert.doesNotThrow(() => checkGraphContract(graph, session, `onnx/${graph}.onnx`));
    } finally {
      await session.release();
    }
  }
});

test('image_decode maps tokens to [-1, 1] pixels of the right shape, and different tokens to different images', async () => {
  const session = await ort.InferenceSession.create(join(tinyBundle(1), 'onnx', 'image_decode.onnx'));
  try {
    const ids = new BigInt64Array(2 * GRID_TOKENS);
    for (let i = 0; i < GRID_TOKENS; i++) {
      ids[i] = BigInt(i % D.codebookSize);
      ids[GRID_TOKENS + i] = BigInt((i * 7 + 3) % D.codebookSize);
    }
    const out = await session.run({ generated_tokens: new ort.Tensor('int64', ids, [2, GRID_TOKENS]) });
    const img = out.decoded_image;
    assert.deepEqual(img.dims, [2, 3, D.imageSize, D.imageSize]);
    const data = img.data as Float32Array;
    assert.ok(data.every((v) => v >= -1 && v <= 1), 'values outside [-1, 1]');
    const plane = 3 * D.imageSize * D.imageSize;
    let diff = 0;
    for (let i = 0; i < plane; i++) diff += Math.abs(data[i] - data[plane + i]);
    assert.ok(diff / plane > 1e-3, 'two different token grids decode to the same image');
  } finally {
    await session.release();
  }
});

// ---- tokenizer --------------------------------------------------------------------------------

function loadTokenizer(dir: string): Tokenizer {
  return new Tokenizer(readJson(dir, 'tokenizer.json'), readJson(dir, 'tokenizer_config.json'));
}

test('tokenizer.json loads in @huggingface/tokenizers and round-trips ASCII text', () => {
  const tok = loadTokenizer(tinyBundle(1));
  const texts = [
    'a photo of a dog sitting on the grass',
    ' leading and trailing spaces  ',
    'Quixotic zebras JUMP over 1234 fences; {json: "x"} & <tags> ~`|\\',
    'line one\nline two\n\n\ttabbed',
    "it's what they'd've said",
  ];
  for (const text of texts) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    assert.ok(ids.length > 0);
    assert.equal(tok.decode(ids, { skip_special_tokens: false }), text);
  }
  // The merges are real: corpus words take fewer tokens than bytes.
  const words = 'the dog has brown fur';
  assert.ok(tok.encode(words, { add_special_tokens: false }).ids.length < words.length / 2);
});

test('special tokens encode to single ids above the image codebook; generation_config.json pad is <｜▁pad▁｜>, the tokenizer\'s pad_token another token', () => {
  const dir = tinyBundle(1);
  const tok = loadTokenizer(dir);
  const gen = readJson(dir, 'generation_config.json');
  const one = (t: string) => {
    const ids = tok.encode(t, { add_special_tokens: false }).ids;
    assert.equal(ids.length, 1, `${t} encodes to ${ids.length} ids`);
    assert.ok(ids[0] >= D.codebookSize, `${t} id ${ids[0]} is inside the image codebook`);
    return ids[0];
  };
  const specials = [
    '<|User|>', '<|Assistant|>', '<begin_of_image>', '<end_of_image>', '<image_placeholder>', '<pad>',
    '<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>',
  ];
  const ids = specials.map(one);
  assert.equal(new Set(ids).size, ids.length, 'two special tokens share an id');
  assert.equal(gen.bos_token_id, one('<｜begin▁of▁sentence｜>'));
  assert.equal(gen.eos_token_id, one('<｜end▁of▁sentence｜>'));
  assert.equal(gen.pad_token_id, one('<｜▁pad▁｜>'));
  // The tokenizer's own pad_token is a different token (100002 vs 100015 in the public export).
  const tc = readJson(dir, 'tokenizer_config.json');
  assert.equal(tc.pad_token, '<pad>');
  assert.notEqual(one(tc.pad_token as string), gen.pad_token_id);
  assert.equal(readJson(dir, 'special_tokens_map.json').pad_token, tc.pad_token);
  // Inside text, too.
  const mixed = tok.encode('<|User|>: hi<begin_of_image>', { add_special_tokens: false }).ids;
  assert.equal(mixed[0], one('<|User|>'));
  assert.equal(mixed.at(-1), one('<begin_of_image>'));
});

test('with specialTokenBase 100000 (the janus-pro-1b preset) the special tokens get the public ids', () => {
  const dir = scratchDir('janus-ids');
  makeBundle({ out: dir, seed: 1, dims: { ...TINY_DIMS, specialTokenBase: 100000, hidden: 16, heads: 2, headDim: 8, intermediate: 32 } });
  const tok = loadTokenizer(dir);
  const gen = readJson(dir, 'generation_config.json');
  // onnx-community/Janus-Pro-1B-ONNX generation_config.json.
  assert.equal(gen.bos_token_id, 100000);
  assert.equal(gen.eos_token_id, 100001);
  assert.equal(gen.pad_token_id, 100015);
  const ids = Object.fromEntries(
    ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>', '<begin_of_image>', '<image_placeholder>', '<pad>'].map((t) => [t, tok.token_to_id(t)]),
  );
  assert.deepEqual(ids, {
    '<｜begin▁of▁sentence｜>': 100000,
    '<｜end▁of▁sentence｜>': 100001,
    '<｜▁pad▁｜>': 100015, // VLChatProcessor.pad_id, the uncond row's token
    '<begin_of_image>': 100016, // transformers' converted Janus generation_config boi_token_id
    '<image_placeholder>': 100581, // transformers' JanusConfig image_token_id
    '<pad>': 100002, // the tokenizer's own pad_token (its text in the public file is not confirmed)
  });
  // Every id from 100000 to the last names a token, and the vocab ends right after it.
  const added = (readJson(dir, 'tokenizer.json') as { added_tokens: { id: number }[] }).added_tokens.map((t) => t.id);
  assert.deepEqual(added, Array.from({ length: 582 }, (_, i) => 100000 + i));
  assert.equal((readJson(dir, 'config.json') as { language_config: { vocab_size: number } }).language_config.vocab_size, 100582);
});

// ---- CLI --------------------------------------------------------------------------------------

const STACK = /^\s+at |\n\s+at |Error:|node:internal/;

test('CLI: --hidden that does not equal heads x head-dim exits 2 with one line on stderr and writes nothing', () => {
  const out = scratchDir('cli-bad-hidden');
  const r = runCli(['--out', out, '--hidden', '65']);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /--hidden/);
  assert.doesNotMatch(r.stderr, STACK);
  assert.equal(existsSync(out), false);
});

test('CLI: a non-integer --seed and a zero size are rejected with one line and exit 2', () => {
  for (const args of [['--seed', 'abc'], ['--layers', '0'], ['--preset', 'huge']]) {
    const out = scratchDir('cli-bad');
    const r = runCli(['--out', out, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(args[0]));
    assert.doesNotMatch(r.stderr, STACK);
    assert.equal(existsSync(out), false);
  }
});

test('CLI: without --out it exits 2 with the usage and no stack trace', () => {
  const r = runCli(['--seed', '3']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--out DIR/);
  assert.doesNotMatch(r.stderr, STACK);
});

test('CLI: defaults to the tiny preset and seed 1, byte for byte what makeBundle writes', () => {
  const out = scratchDir('cli-ok');
  const r = runCli(['--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const want = hashes(tinyBundle(1));
  const got = hashes(out);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [file, hash] of want) assert.equal(got.get(file), hash, file);
});

// Bad flags and sizes makeBundle cannot honour: one line on stderr, exit 2, no stack trace.
test('CLI: an unknown flag or a flag without its value exits 2 with one line', () => {
  for (const args of [['--bogus'], ['--hidden']]) {
    const r = runCli(['--out', scratchDir('cli-unknown'), ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, STACK);
  }
});

test('CLI: sizes makeBundle cannot honour (--codebook above the special ids) exit 2 with one line', () => {
  const r = runCli(['--out', scratchDir('cli-codebook'), '--codebook', '1000']);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, STACK);
});
