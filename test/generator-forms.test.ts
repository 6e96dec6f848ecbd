import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import type { WeightFormat } from '../src/generator/onnx-builder.ts';

const D = TINY_DIMS;
const SEED = 7;
const FORMS = ['concat', 'mha', 'gqa', 'gqa-separate'] as const;
const FUSED = ['mha', 'gqa', 'gqa-separate'] as const;
type Form = (typeof FORMS)[number];
const VARIANTS: WeightFormat[] = ['fp32', 'q4'];

const root = mkdtempSync(join(tmpdir(), 'xcot-lm-forms-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** One bundle per attention form, same seed, fp32 and q4. */
const bundles = new Map<Form, string>();
function bundle(form: Form): string {
  let dir = bundles.get(form);
  if (!dir) {
    dir = join(root, form);
    makeBundle({ out: dir, seed: SEED, dims: D, variants: VARIANTS, attention: form });
    bundles.set(form, dir);
  }
  return dir;
}

function graphPath(form: Form, variant: WeightFormat): string {
  return join(bundle(form), 'onnx', variant === 'q4' ? 'language_model_q4.onnx' : 'language_model.onnx');
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();
function session(form: Form, variant: WeightFormat): Promise<ort.InferenceSession> {
  const key = `${form}/${variant}`;
  if (!sessions.has(key)) sessions.set(key, ort.InferenceSession.create(graphPath(form, variant), { executionProviders: ['cpu'] }));
  return sessions.get(key)!;
}

/** The graph with external initializers read back from the sidecar. */
function readGraph(form: Form, variant: WeightFormat): { graph: onnxProto.onnx.IGraphProto; tensor: (name: string) => Float32Array } {
  const path = graphPath(form, variant);
  const model = onnxProto.onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph!;
  const tensor = (name: string): Float32Array => {
    const t = graph.initializer!.find((i) => i.name === name);
    assert.ok(t, `${form}/${variant}: no initializer ${name}`);
    let bytes: Uint8Array;
    if (t.rawData && t.rawData.length) bytes = t.rawData;
    else {
      const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
      const file = readFileSync(join(path, '..', kv.location!));
      bytes = file.subarray(Number(kv.offset), Number(kv.offset) + Number(kv.length));
    }
    return new Float32Array(Uint8Array.from(bytes).buffer);
  };
  return { graph, tensor };
}

const LAYER_NAMES = (n: number) => Array.from({ length: n }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
const PRESENT_NAMES = (n: number) => Array.from({ length: n }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();

// ---- loading and declared inputs/outputs ------------------------------------------------------

test('concat, mha, packed gqa and gqa-separate language models load in onnxruntime-node on CPU with their declared inputs and outputs (no position_ids only in packed gqa), fp32 and q4', async () => {
  for (const variant of VARIANTS) {
    for (const form of FORMS) {
      const s = await session(form, variant);
      const wantInputs = ['inputs_embeds', 'attention_mask', ...(form === 'gqa' ? [] : ['position_ids']), ...LAYER_NAMES(D.layers)];
      assert.deepEqual([...s.inputNames].sort(), wantInputs.sort(), `${form}/${variant} inputs`);
      assert.deepEqual([...s.outputNames].sort(), ['hidden_states', ...PRESENT_NAMES(D.layers)].sort(), `${form}/${variant} outputs`);
    }
    for (const form of FUSED) {
      // The builder's order: model inputs, then the cache per layer; hidden_states, then present per layer.
      const s = await session(form, variant);
      assert.deepEqual(s.inputNames, ['inputs_embeds', 'attention_mask', ...(form === 'gqa' ? [] : ['position_ids']), ...LAYER_NAMES(D.layers)]);
      assert.deepEqual(s.outputNames, ['hidden_states', ...PRESENT_NAMES(D.layers)]);
      const { graph } = readGraph(form, variant);
      const shapeOf = (list: onnxProto.onnx.IValueInfoProto[], name: string) =>
        list.find((v) => v.name === name)!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
      assert.deepEqual(shapeOf(graph.input!, 'inputs_embeds'), ['batch_size', 'sequence_length', D.hidden]);
      assert.deepEqual(shapeOf(graph.input!, 'attention_mask'), ['batch_size', 'total_sequence_length']);
      assert.deepEqual(shapeOf(graph.input!, 'past_key_values.0.key'), ['batch_size', D.heads, 'past_sequence_length', D.headDim]);
      assert.deepEqual(shapeOf(graph.output!, 'hidden_states'), ['batch_size', 'sequence_length', D.hidden]);
      assert.deepEqual(shapeOf(graph.output!, 'present.0.value'), ['batch_size', D.heads, 'total_sequence_length', D.headDim]);
      if (form !== 'gqa') assert.deepEqual(shapeOf(graph.input!, 'position_ids'), ['batch_size', 'sequence_length']);
    }
  }
});

test('mha, packed gqa and gqa-separate graphs use the builder\'s fused ops, attributes and initializer names', () => {
  for (const variant of VARIANTS) {
    for (const form of FUSED) {
      const { graph } = readGraph(form, variant);
      const nodes = graph.node!;
      const count = (op: string) => nodes.filter((n) => n.opType === op).length;
      const attrs = (n: onnxProto.onnx.INodeProto) => Object.fromEntries(n.attribute!.map((a) => [a.name, a.type === onnxProto.onnx.AttributeProto.AttributeType.FLOAT ? a.f : Number(a.i)]));
      const where = `${form}/${variant}`;
      assert.equal(count('SimplifiedLayerNormalization'), 1, where);
      assert.equal(count('SkipSimplifiedLayerNormalization'), 2 * D.layers, where);
      if (form !== 'mha') assert.equal(count('Concat'), 0, `${where}: gqa has no Concat`);
      const inits = new Set(graph.initializer!.map((i) => i.name));
      for (const name of ['cos_cache', 'sin_cache', 'model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight', `model.layers.${D.layers}.final_norm_layernorm.weight`]) {
        assert.ok(inits.has(name), `${where}: ${name}`);
      }
      const cos = graph.initializer!.find((i) => i.name === 'cos_cache')!;
      assert.deepEqual(cos.dims!.map(Number), [D.maxPositions, D.headDim / 2]);
      // The builder packs q, k and v into one qkv_proj MatMul for its cpu/cuda GroupQueryAttention only.
      const projections = form === 'gqa' ? ['qkv_proj'] : ['q_proj', 'k_proj', 'v_proj'];
      const suffixes = variant === 'q4' ? ['weight_Q4', 'weight_scales'] : ['weight'];
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'qkv_proj']) {
        for (const s of suffixes) assert.equal(inits.has(`model.layers.0.attn.${proj}.MatMul.${s}`), projections.includes(proj), `${where}: ${proj} ${s}`);
      }
      const linear = variant === 'q4' ? 'MatMulNBits' : 'MatMul';
      assert.equal(nodes.filter((n) => n.opType === linear && n.name !== undefined && n.output![0].includes('/attn/')).length, (projections.length + 1) * D.layers, `${where}: attention projections`);
      if (variant === 'q4') {
        const nbits = nodes.filter((n) => n.opType === 'MatMulNBits');
        // o_proj, gate_proj and up_proj too; down_proj stays a MatMul (K = intermediate is no multiple of 32).
        assert.equal(nbits.length, (projections.length + 3) * D.layers, where);
        const first = nbits.find((n) => n.output![0] === `/model/layers.0/attn/${projections[0]}/MatMul/output_0`)!;
        assert.deepEqual(attrs(first), { K: D.hidden, N: (form === 'gqa' ? 3 : 1) * D.hidden, bits: 4, block_size: 32, accuracy_level: 4 });
      }
      if (form === 'mha') {
        assert.equal(count('MultiHeadAttention'), D.layers, where);
        assert.equal(count('RotaryEmbedding'), 2 * D.layers, where);
        const mha = nodes.find((n) => n.opType === 'MultiHeadAttention')!;
        assert.equal(mha.domain, 'com.microsoft');
        assert.equal(mha.input!.length, 8);
        assert.deepEqual(mha.input!.slice(3, 5), ['', '']); // no bias, no key_padding_mask
        assert.equal(mha.input![5], '/model/attn_mask_reformat/Tile/output_0'); // the additive 4D bias
        assert.deepEqual(mha.input!.slice(6), ['past_key_values.0.key', 'past_key_values.0.value']);
        assert.deepEqual(mha.output, ['/model/layers.0/attn/MultiHeadAttention/output_0', 'present.0.key', 'present.0.value']);
        assert.equal(attrs(mha).num_heads, D.heads);
        const rot = nodes.find((n) => n.opType === 'RotaryEmbedding')!;
        assert.deepEqual(rot.input!.slice(1), ['position_ids', 'cos_cache', 'sin_cache']);
        assert.deepEqual(attrs(rot), { interleaved: 0, num_heads: 0, rotary_embedding_dim: 0 });
      } else {
        const packed = form === 'gqa';
        assert.equal(count('GroupQueryAttention'), D.layers, where);
        assert.equal(count('RotaryEmbedding'), packed ? 0 : 2 * D.layers, where);
        const gqa = nodes.find((n) => n.opType === 'GroupQueryAttention')!;
        assert.equal(gqa.domain, 'com.microsoft');
        const seqlens = ['/model/attn_mask_reformat/attn_mask_subgraph/Sub/Cast/output_0', '/model/attn_mask_reformat/attn_mask_subgraph/Gather/Cast/output_0'];
        const past = ['past_key_values.0.key', 'past_key_values.0.value'];
        assert.deepEqual(gqa.input, packed
          ? ['/model/layers.0/attn/qkv_proj/MatMul/output_0', '', '', ...past, ...seqlens, 'cos_cache', 'sin_cache']
          : ['/model/layers.0/attn/q_rotary/RotaryEmbedding/output_0', '/model/layers.0/attn/k_rotary/RotaryEmbedding/output_0', '/model/layers.0/attn/v_proj/MatMul/output_0', ...past, ...seqlens, '', '']);
        if (!packed) {
          const rot = nodes.find((n) => n.opType === 'RotaryEmbedding')!;
          assert.deepEqual(rot.input, ['/model/layers.0/attn/q_proj/MatMul/output_0', 'position_ids', 'cos_cache', 'sin_cache']);
        }
        const a = attrs(gqa);
        assert.equal(a.num_heads, D.heads);
        assert.equal(a.kv_num_heads, D.heads);
        assert.equal(a.do_rotary, packed ? 1 : 0);
        assert.equal(a.rotary_interleaved, 0);
        assert.ok(Math.abs(a.scale - 1 / Math.sqrt(D.headDim)) < 1e-7);
      }
    }
  }
});

test('for one seed, concat, mha, packed gqa and gqa-separate hold the same weights (q, k, v, o, mlp, norms; packed qkv_proj is q, k and v side by side)', () => {
  const concat = readGraph('concat', 'fp32').tensor;
  const mha = readGraph('mha', 'fp32').tensor;
  const gqa = readGraph('gqa-separate', 'fp32').tensor;
  const packed = readGraph('gqa', 'fp32').tensor;
  for (let i = 0; i < D.layers; i++) {
    const c = (n: string) => concat(`model.layers.${i}.${n}`);
    const m = (n: string) => mha(`model.layers.${i}.${n}`);
    const g = (n: string) => gqa(`model.layers.${i}.${n}`);
    for (const [cName, fName] of [['self_attn.q_proj.weight', 'attn.q_proj.MatMul.weight'], ['self_attn.k_proj.weight', 'attn.k_proj.MatMul.weight'],
      ['self_attn.v_proj.weight', 'attn.v_proj.MatMul.weight'], ['self_attn.o_proj.weight', 'attn.o_proj.MatMul.weight'],
      ['mlp.gate_proj.weight', 'mlp.gate_proj.MatMul.weight'], ['mlp.up_proj.weight', 'mlp.up_proj.MatMul.weight'], ['mlp.down_proj.weight', 'mlp.down_proj.MatMul.weight'],
      ['input_layernorm.weight', 'input_layernorm.weight'], ['post_attention_layernorm.weight', 'post_attention_layernorm.weight']]) {
      assert.deepEqual(m(fName), c(cName), `layer ${i} ${cName} (mha)`);
      assert.deepEqual(g(fName), c(cName), `layer ${i} ${cName} (gqa-separate)`);
      if (!/[qkv]_proj/.test(fName)) assert.deepEqual(packed(`model.layers.${i}.${fName}`), c(cName), `layer ${i} ${cName} (gqa)`);
    }
    const qkv = packed(`model.layers.${i}.attn.qkv_proj.MatMul.weight`);
    const h = D.hidden;
    assert.equal(qkv.length, h * 3 * h);
    for (const [j, name] of ['q_proj', 'k_proj', 'v_proj'].entries()) {
      const part = new Float32Array(h * h);
      for (let r = 0; r < h; r++) part.set(qkv.subarray(r * 3 * h + j * h, r * 3 * h + (j + 1) * h), r * h);
      assert.deepEqual(part, c(`self_attn.${name}.weight`), `layer ${i} ${name} inside qkv_proj`);
    }
  }
  assert.deepEqual(mha(`model.layers.${D.layers}.final_norm_layernorm.weight`), concat('model.norm.weight'));
  assert.deepEqual(gqa(`model.layers.${D.layers}.final_norm_layernorm.weight`), concat('model.norm.weight'));
});

// ---- same function ----------------------------------------------------------------------------

/** Deterministic inputs in [-1, 1). */
function embeds(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

type Feeds = Record<string, ort.Tensor>;

async function run(form: Form, variant: WeightFormat, x: Float32Array, batch: number, len: number, past: Feeds | null, pastLen: number): Promise<Feeds> {
  const s = await session(form, variant);
  const total = pastLen + len;
  const feeds: Feeds = {
    inputs_embeds: new ort.Tensor('float32', x, [batch, len, D.hidden]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * total).fill(1n), [batch, total]),
  };
  if (s.inputNames.includes('position_ids')) {
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from({ length: batch * len }, (_, i) => BigInt(pastLen + (i % len))), [batch, len]);
  }
  for (let i = 0; i < D.layers; i++) {
    for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${i}.${kv}`] = past?.[`present.${i}.${kv}`] ?? new ort.Tensor('float32', new Float32Array(0), [batch, D.heads, 0, D.headDim]);
    }
  }
  return (await s.run(feeds)) as Feeds;
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

function assertSameOutputs(got: Feeds, want: Feeds, what: string): void {
  for (const name of ['hidden_states', ...PRESENT_NAMES(D.layers)]) {
    const d = maxAbsDiff(got[name], want[name]);
    assert.ok(d < 1e-4, `${what}: ${name} differs by ${d}`);
  }
}

for (const variant of VARIANTS) {
  test(`for one seed, concat, mha, packed gqa and gqa-separate give the same hidden_states and present within 1e-4 (${variant}): a 7-token prompt from an empty past, one step after it with a mask of 8 ones, and a batch of 2`, async () => {
    const prompt = embeds(7 * D.hidden, 1);
    const step = embeds(D.hidden, 2);
    const ref = await run('concat', variant, prompt, 1, 7, null, 0);
    const refStep = await run('concat', variant, step, 1, 1, ref, 7);
    assert.deepEqual(refStep['present.0.key'].dims, [1, D.heads, 8, D.headDim]);
    const batchPrompt = embeds(2 * 7 * D.hidden, 3);
    const batchStep = embeds(2 * D.hidden, 4);
    const refBatch = await run('concat', variant, batchPrompt, 2, 7, null, 0);
    const refBatchStep = await run('concat', variant, batchStep, 2, 1, refBatch, 7);
    for (const form of FUSED) {
      const p = await run(form, variant, prompt, 1, 7, null, 0);
      assertSameOutputs(p, ref, `${form} prompt`);
      // The step continues from the fused form's own cache.
      assertSameOutputs(await run(form, variant, step, 1, 1, p, 7), refStep, `${form} step`);
      const bp = await run(form, variant, batchPrompt, 2, 7, null, 0);
      assertSameOutputs(bp, refBatch, `${form} batch-of-2 prompt`);
      assertSameOutputs(await run(form, variant, batchStep, 2, 1, bp, 7), refBatchStep, `${form} batch-of-2 step`);
    }
  });
}
