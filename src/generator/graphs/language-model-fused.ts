import type { BundleDims } from '../dims.ts';
import { linearFrom, type LinearWeights } from '../layers.ts';
import { DType, GraphBuilder, type AttrValue, type DTypeCode, type Tensor, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';
import { drawDecoderLayer, drawFinalNorm } from './language-model.ts';

/**
 * The language model in the forms onnxruntime-genai's model builder (src/python/py/models/builder.py,
 * early 2025, the one the public Janus-Pro ONNX export came from) writes with com.microsoft fused ops:
 *
 * - `mha` (its web/default target): separate q/k/v MatMuls, RotaryEmbedding on q and k fed by the
 *   `position_ids` input, MultiHeadAttention with past_key/past_value and an additive attention bias
 *   [B, num_heads, S, T] that the builder derives from attention_mask (causal + padding, float min);
 * - `gqa` (its cpu/cuda target): one packed `attn/qkv_proj/MatMul` ([hidden, 3 x heads x head_dim],
 *   q then k then v columns) fed to GroupQueryAttention as its query with key and value empty,
 *   do_rotary=1 with the cos/sin caches, seqlens_k = ReduceSum(attention_mask, 1) - 1 and
 *   total_sequence_length = attention_mask's dim 1 (both int32); no position_ids input;
 * - `gqa-separate` (its dml target): separate q/k/v MatMuls, RotaryEmbedding on q and k fed by the
 *   `position_ids` input (as mha), GroupQueryAttention with do_rotary=0 and no caches, seqlens_k and
 *   total_sequence_length as in gqa.
 *
 * Both: SimplifiedLayerNormalization for layer 0's input norm, SkipSimplifiedLayerNormalization
 * (residual add fused) for every later norm, the final one writing `hidden_states`. Weights come
 * from `drawDecoderLayer` / `drawFinalNorm` in the order the `concat` form draws them, so for one
 * seed all forms hold the same weights and compute the same function up to float rounding.
 *
 * Initializer and tensor names follow the builder (`model.layers.N.attn.q_proj.MatMul.weight`,
 * `..._Q4` / `..._scales` once quantized, `model.layers.N.input_layernorm.weight`, `cos_cache`,
 * `/model/layers.N/attn/q_proj/MatMul/output_0`, `/model/constants/TensorProto.INT64/1D/1`, ...).
 * Node names are the GraphBuilder's own: it does not take a node name.
 */
export type FusedAttention = 'mha' | 'gqa' | 'gqa-separate';

export function buildLanguageModelMha(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  return buildFusedLanguageModel('mha', d, rng, weights);
}

export function buildLanguageModelGqa(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  return buildFusedLanguageModel('gqa', d, rng, weights);
}

export function buildLanguageModelGqaSeparate(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  return buildFusedLanguageModel('gqa-separate', d, rng, weights);
}

export function buildFusedLanguageModel(form: FusedAttention, d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  if (d.headDim % 2) throw new Error('rotary embeddings need an even head_dim');
  const io = GRAPH_IO.language_model;
  // The builder writes opset 14 for the default domain (plus com.microsoft 1).
  const b = new GraphBuilder('language_model', weights, 14);
  const g = new Nodes(b);
  const kvShape = ['batch_size', d.heads, 'past_sequence_length', d.headDim];
  const float = b.floatType;
  const embeds = b.input(io.inputsEmbeds, float, ['batch_size', 'sequence_length', d.hidden]);
  const mask = b.input(io.attentionMask, DType.int64, ['batch_size', 'total_sequence_length']);
  const separateRotary = form !== 'gqa';
  const positionIds = separateRotary ? b.input(io.positionIds, DType.int64, ['batch_size', 'sequence_length']) : '';
  for (let i = 0; i < d.layers; i++) {
    b.input(io.pastKey(i), float, kvShape);
    b.input(io.pastValue(i), float, kvShape);
  }
  b.output(io.hiddenStates, float, ['batch_size', 'sequence_length', d.hidden]);
  for (let i = 0; i < d.layers; i++) {
    b.output(io.presentKey(i), float, ['batch_size', d.heads, 'total_sequence_length', d.headDim]);
    b.output(io.presentValue(i), float, ['batch_size', d.heads, 'total_sequence_length', d.headDim]);
  }

  const maskInputs = form === 'mha' ? mhaAttentionBias(g, d, embeds, mask, io.pastKey(0)) : gqaSequenceLengths(g, mask);
  const [cosCache, sinCache] = rotaryCaches(b, d);

  const qSize = d.heads * d.headDim;
  // Norm chain state as in the builder: root (residual stream) and skip (the last sublayer's output).
  let root = embeds;
  let skip = '';
  for (let i = 0; i < d.layers; i++) {
    const p = `/model/layers.${i}`;
    const w = drawDecoderLayer(rng, d);
    const input = i === 0
      ? simplifiedNorm(g, `${p}/input_layernorm`, `model.layers.${i}.input_layernorm.weight`, root, w.inputNorm, d.rmsEps)
      : skipNorm(g, `${p}/input_layernorm`, `model.layers.${i}.input_layernorm.weight`, root, skip, w.inputNorm, d.rmsEps);
    if (i > 0) root = input.sum!;

    const attnName = `${p}/attn/${form === 'mha' ? 'MultiHeadAttention' : 'GroupQueryAttention'}`;
    const attnOut = `${attnName}/output_0`;
    const present = [io.presentKey(i), io.presentValue(i)];
    // Inputs: query, key, value, past_key, past_value, seqlens_k, total_sequence_length, cos_cache, sin_cache.
    const gqa = (q: string, k: string, v: string, rotaryInside: boolean) => b.op('GroupQueryAttention',
      [q, k, v, io.pastKey(i), io.pastValue(i), maskInputs.seqlensK!, maskInputs.totalSeqLen!, rotaryInside ? cosCache : '', rotaryInside ? sinCache : ''], {
        num_heads: d.heads, kv_num_heads: d.heads, scale: { float: 1 / Math.sqrt(d.headDim) },
        softcap: { float: 0 }, do_rotary: rotaryInside ? 1 : 0, rotary_interleaved: 0,
      }, [attnOut, ...present], 'com.microsoft');
    if (form === 'gqa') {
      // The builder's packed projection: q, k and v weights side by side in one MatMul (MatMulNBits once quantized).
      const qkv = matmul(g, `${p}/attn/qkv_proj/MatMul`, input.out, d.hidden, 3 * qSize, { weight: packColumns(d.hidden, [w.q.weight, w.k.weight, w.v.weight]) });
      gqa(qkv, '', '', true);
    } else {
      // Separate q/k/v projections (attn.{q,k,v}_proj) with RotaryEmbedding on q and k from position_ids.
      const q = matmul(g, `${p}/attn/q_proj/MatMul`, input.out, d.hidden, qSize, w.q);
      const k = matmul(g, `${p}/attn/k_proj/MatMul`, input.out, d.hidden, qSize, w.k);
      const v = matmul(g, `${p}/attn/v_proj/MatMul`, input.out, d.hidden, qSize, w.v);
      const rotary = (name: string, x: string) => g.node(name, 'RotaryEmbedding', [x, positionIds, cosCache, sinCache],
        { interleaved: 0, num_heads: 0, rotary_embedding_dim: 0 }, 'com.microsoft');
      const qr = rotary(`${p}/attn/q_rotary/RotaryEmbedding`, q);
      const kr = rotary(`${p}/attn/k_rotary/RotaryEmbedding`, k);
      if (form === 'mha') {
        // Inputs: query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value.
        b.op('MultiHeadAttention', [qr, kr, v, '', '', maskInputs.bias!, io.pastKey(i), io.pastValue(i)],
          { num_heads: d.heads, scale: { float: 1 / Math.sqrt(d.headDim) } }, [attnOut, ...present], 'com.microsoft');
      } else {
        gqa(qr, kr, v, false);
      }
    }
    const o = matmul(g, `${p}/attn/o_proj/MatMul`, attnOut, qSize, d.hidden, w.o);

    const post = skipNorm(g, `${p}/post_attention_layernorm`, `model.layers.${i}.post_attention_layernorm.weight`, root, o, w.postNorm, d.rmsEps);
    root = post.sum!;
    const gate = matmul(g, `${p}/mlp/gate_proj/MatMul`, post.out, d.hidden, d.intermediate, w.gate);
    const up = matmul(g, `${p}/mlp/up_proj/MatMul`, post.out, d.hidden, d.intermediate, w.up);
    const sig = g.node(`${p}/mlp/act_fn/Sigmoid`, 'Sigmoid', [gate]);
    const act = g.node(`${p}/mlp/act_fn/Mul`, 'Mul', [gate, sig]);
    const prod = g.node(`${p}/mlp/Mul`, 'Mul', [act, up]);
    skip = matmul(g, `${p}/mlp/down_proj/MatMul`, prod, d.intermediate, d.hidden, w.down);
  }
  // The final norm is the builder's last SkipLayerNorm: location "final_norm" at layer id = layers.
  const last = `model.layers.${d.layers}.final_norm_layernorm.weight`;
  b.floatWeight(last, [d.hidden], drawFinalNorm(rng, d));
  b.op('SkipSimplifiedLayerNormalization', [root, skip, last], { epsilon: { float: d.rmsEps } }, [io.hiddenStates], 'com.microsoft');
  return b;
}

/** [rows, a] [rows, b] ... row-major -> [rows, a + b + ...]: the matrices side by side. */
function packColumns(rows: number, parts: Float32Array[]): Float32Array {
  const widths = parts.map((p) => p.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    parts.forEach((p, i) => {
      out.set(p.subarray(r * widths[i], (r + 1) * widths[i]), at);
      at += widths[i];
    });
  }
  return out;
}

interface NormOut {
  out: string;
  /** input + skip (output 3), the residual stream for the next norm. */
  sum?: string;
}

function simplifiedNorm(g: Nodes, name: string, weightName: string, x: string, weight: Float32Array, eps: number): NormOut {
  g.b.floatWeight(weightName, [weight.length], weight);
  const out = `${name}/output_0`;
  g.b.op('SimplifiedLayerNormalization', [x, weightName], { epsilon: { float: eps }, axis: -1, stash_type: 1 }, [out]);
  return { out };
}

function skipNorm(g: Nodes, name: string, weightName: string, root: string, skip: string, weight: Float32Array, eps: number): NormOut {
  g.b.floatWeight(weightName, [weight.length], weight);
  const out = `${name}/output_0`;
  const sum = `${name}/output_3`;
  g.b.op('SkipSimplifiedLayerNormalization', [root, skip, weightName], { epsilon: { float: eps } }, [out, '', '', sum], 'com.microsoft');
  return { out, sum };
}

/** `name` is the builder's node name (`/model/layers.0/attn/q_proj/MatMul`); weights `model.layers.0.attn.q_proj.MatMul.weight[_Q4|_scales]`. */
function matmul(g: Nodes, name: string, x: string, inDim: number, outDim: number, w: LinearWeights): string {
  return linearFrom(g.b, name.slice(1).replaceAll('/', '.'), x, inDim, outDim, w, `${name}/output_0`);
}

/**
 * cos_cache / sin_cache [max_positions, head_dim / 2]: the first half of the builder's
 * cat(freqs, freqs) tables, computed as the concat form's tables are (angle p * theta^(-2i/hd)).
 */
function rotaryCaches(b: GraphBuilder, d: BundleDims): [string, string] {
  const half = d.headDim / 2;
  const cos = new Float32Array(d.maxPositions * half);
  const sin = new Float32Array(d.maxPositions * half);
  for (let p = 0; p < d.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(d.ropeTheta, (-2 * i) / d.headDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  const dims = [d.maxPositions, half];
  return [b.floatWeight('cos_cache', dims, cos), b.floatWeight('sin_cache', dims, sin)];
}

interface MaskInputs {
  bias?: string;
  seqlensK?: string;
  totalSeqLen?: string;
}

/**
 * The builder's GQA mask subgraph: seqlens_k = ReduceSum(attention_mask, axes [1]) - 1 as int32
 * ([batch_size, 1]; GQA reads one value per row), total_sequence_length = Shape(mask)[1] as int32.
 */
function gqaSequenceLengths(g: Nodes, mask: string): MaskInputs {
  const base = '/model/attn_mask_reformat/attn_mask_subgraph';
  const sum = g.node(`${base}/ReduceSum`, 'ReduceSum', [mask, g.i64([1])]);
  const sub = g.node(`${base}/Sub`, 'Sub', [sum, g.i64([1])]);
  const seqlensK = g.node(`${base}/Sub/Cast`, 'Cast', [sub], { to: DType.int32 });
  const shape = g.node(`${base}/Shape`, 'Shape', [mask]);
  const total = g.node(`${base}/Gather`, 'Gather', [shape, g.i64(1)], { axis: 0 });
  const totalSeqLen = g.node(`${base}/Gather/Cast`, 'Cast', [total], { to: DType.int32 });
  return { seqlensK, totalSeqLen };
}

/**
 * The builder's MHA mask reformatting (make_attention_mask_reformatting_for_mha), node for node in
 * effect: a causal [S, S] block (0 on and below the diagonal, float min above) expanded to
 * [B, 1, S, T], plus a padding term (float min where attention_mask is 0) expanded to [B, 1, S, T],
 * tiled to [B, num_heads, S, T]. As in the builder, the causal block is expanded from [1, 1, S, S],
 * which only works when S == T (a prompt from an empty past) or S == 1 (one step).
 */
function mhaAttentionBias(g: Nodes, d: BundleDims, embeds: string, mask: string, pastKey0: string): MaskInputs {
  const base = '/model/attn_mask_reformat';
  const ids = `${base}/input_ids_subgraph`;
  const am = `${base}/attn_mask_subgraph`;
  const FLOAT_MIN = -3.4028234663852886e38;
  const FLOAT_MIN_NAME = '-3.4028235e+38';

  // past_key_values.0.key dim 2 = past length.
  const pastLen = g.node(`${base}/past_key_subgraph/Gather`, 'Gather', [g.node(`${base}/past_key_subgraph/Shape`, 'Shape', [pastKey0]), g.i64(2)], { axis: 0 });

  // Shared: B and S from inputs_embeds (the common subgraph's Shape_1/Gather_1, Shape_2/Gather_2).
  const idsBatch = g.node(`${ids}/Gather_1`, 'Gather', [g.node(`${ids}/Shape_1`, 'Shape', [embeds]), g.i64(0)], { axis: 0 });
  const seqLen = g.node(`${ids}/Gather_2`, 'Gather', [g.node(`${ids}/Shape_2`, 'Shape', [embeds]), g.i64(1)], { axis: 0 });
  const totalLen = g.node(`${ids}/Add_1`, 'Add', [seqLen, pastLen]);
  const totalLen1 = g.node(`${ids}/Unsqueeze_3`, 'Unsqueeze', [totalLen, g.i64([0])]);
  const seq4 = g.node(`${ids}/Unsqueeze_4`, 'Unsqueeze', [seqLen, g.i64([0])]);
  const seq5 = g.node(`${ids}/Unsqueeze_5`, 'Unsqueeze', [seqLen, g.i64([0])]);
  const seq6 = g.node(`${ids}/Unsqueeze_6`, 'Unsqueeze', [seqLen, g.i64([0])]);
  const square = g.node(`${ids}/Concat_2`, 'Concat', [seq4, seq5], { axis: 0 });
  const minSquare = g.node(`${ids}/ConstantOfShape_2`, 'ConstantOfShape', [square], {
    value: { tensor: { dtype: DType.float, dims: [1], data: Float32Array.of(FLOAT_MIN) } },
  });
  const lastDim = (n: number) => g.node(`${ids}/Squeeze_${n}`, 'Squeeze', [
    g.node(`${ids}/Slice_${n}`, 'Slice', [g.node(`${ids}/Shape_${n + 3}`, 'Shape', [minSquare]), g.i64([-1]), g.i64([9223372036854775807n]), g.i64([0])]),
    g.i64([0]),
  ]);
  const rows = g.node(`${ids}/output_0`, 'Unsqueeze', [lastDim(1), g.i64([0])]);
  const colShape = g.node(`${ids}/Concat_3`, 'Concat', [rows, g.i64([1])], { axis: 0 });
  const range = g.node(`${ids}/Range`, 'Range', [g.i64(0), lastDim(2), g.i64(1)]);
  const rangePlus1 = g.node(`${ids}/Add_2`, 'Add', [range, g.i64(1)]);
  const column = g.node(`${ids}/Reshape`, 'Reshape', [rangePlus1, colShape]);
  const below = g.node(`${ids}/Less`, 'Less', [range, column]);
  const causal = g.node(`${ids}/Where_2`, 'Where', [below, g.f32(0, '0'), minSquare]);
  const causal4 = g.node(`${ids}/Unsqueeze_9`, 'Unsqueeze', [g.node(`${ids}/Unsqueeze_8`, 'Unsqueeze', [causal, g.i64([0])]), g.i64([1])]);
  const idsShape = commonShape(g, ids, idsBatch, [g.node(`${ids}/Unsqueeze_2`, 'Unsqueeze', [seqLen, g.i64([0])]), totalLen1], true);
  const causalB = g.node(`${ids}/Expand`, 'Expand', [causal4, idsShape]);

  // Padding: attention_mask [B, T] -> [B, 1, 1, T] -> expanded to [B, 1, S, T] -> 0 / float min.
  const mask4 = g.node(`${am}/Unsqueeze_4`, 'Unsqueeze', [g.node(`${am}/Unsqueeze_3`, 'Unsqueeze', [mask, g.i64([1])]), g.i64([2])]);
  const amBatch = g.node(`${am}/Gather_1`, 'Gather', [g.node(`${am}/Shape_1`, 'Shape', [mask]), g.i64(0)], { axis: 0 });
  const amTotal = g.node(`${am}/Gather_2`, 'Gather', [g.node(`${am}/Shape_2`, 'Shape', [mask]), g.i64(1)], { axis: 0 });
  const amShape = commonShape(g, am, amBatch, [seq6, g.node(`${am}/Unsqueeze_2`, 'Unsqueeze', [amTotal, g.i64([0])])], false);
  const maskB = g.node(`${am}/Expand`, 'Expand', [mask4, amShape]);
  const inverted = g.node(`${am}/Sub`, 'Sub', [g.f32(1, '1'), g.node(`${am}/Cast_1`, 'Cast', [maskB], { to: DType.float })]);
  const padding = g.node(`${am}/Where_2`, 'Where', [g.node(`${am}/Cast_2`, 'Cast', [inverted], { to: DType.bool }), g.f32(FLOAT_MIN, FLOAT_MIN_NAME), inverted]);

  const bias = g.node(`${base}/Add`, 'Add', [padding, causalB]);
  const tiled = g.node(`${base}/Tile`, 'Tile', [bias, g.i64([1, d.heads, 1, 1])]);
  // A float16 graph's attention takes a float16 bias (float min becomes -inf: still weight 0).
  if (g.b.floatType === DType.float16) return { bias: g.node(`${base}/Tile/Cast`, 'Cast', [tiled], { to: DType.float16 }) };
  return { bias: tiled };
}

/**
 * The builder's make_common_mask_reformat_subgraph shape: Concat([B], [1], a, b) with any -1
 * replaced by 1 (Equal / Where against ConstantOfShape(1) * -1). `batch` is its Gather_1.
 */
function commonShape(g: Nodes, base: string, batch: string, lastTwo: [string, string], idsSubgraph: boolean): string {
  const b1 = g.node(`${base}/Unsqueeze_1`, 'Unsqueeze', [batch, g.i64([0])]);
  const shape = g.node(`${base}/${idsSubgraph ? 'Concat_1' : 'Concat'}`, 'Concat', [b1, g.i64([1]), ...lastTwo], { axis: 0 });
  const ones = g.node(`${base}/${idsSubgraph ? 'ConstantOfShape_1' : 'ConstantOfShape'}`, 'ConstantOfShape', [g.node(`${base}/Shape_3`, 'Shape', [shape])], {
    value: { tensor: { dtype: DType.int64, dims: [1], data: BigInt64Array.of(1n) } },
  });
  const minusOnes = g.node(`${base}/Mul`, 'Mul', [ones, g.i64(-1)]);
  return g.node(`${base}/Where_1`, 'Where', [g.node(`${base}/Equal`, 'Equal', [shape, minusOnes]), ones, shape]);
}

/** Nodes with the builder's output names (`${node}/output_0`) and its shared constants. */
class Nodes {
  private readonly constants = new Set<string>();

  constructor(readonly b: GraphBuilder) {}

  node(name: string, type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.b.op(type, inputs, attrs, [`${name}/output_0`], domain)[0];
  }

  /** `/model/constants/TensorProto.INT64/0D/1` (a number) or `.../1D/1, 4, 1, 1` (an array), as a Constant node. */
  i64(value: number | bigint | (number | bigint)[]): string {
    const values = Array.isArray(value) ? value : [value];
    const rank = Array.isArray(value) ? '1D' : '0D';
    const name = `/model/constants/TensorProto.INT64/${rank}/${values.join(', ')}`;
    return this.constant(name, DType.int64, Array.isArray(value) ? [values.length] : [], BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /** A float scalar; `text` is how Python prints it in the builder's constant name. */
  f32(value: number, text: string): string {
    return this.constant(`/model/constants/TensorProto.FLOAT/0D/${text}`, DType.float, [], Float32Array.of(value));
  }

  private constant(name: string, dtype: DTypeCode, dims: number[], data: Tensor['data']): string {
    if (!this.constants.has(name)) {
      this.constants.add(name);
      this.b.op('Constant', [], { value: { tensor: { dtype, dims, data } } }, [name]);
    }
    return name;
  }
}
