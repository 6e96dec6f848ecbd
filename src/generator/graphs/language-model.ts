import type { BundleDims } from '../dims.ts';
import { attention, drawLinear, drawNormWeight, linearFrom, mergeHeads, rmsNormFrom, silu, splitHeads, type LinearWeights } from '../layers.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';

/** One decoder layer's random weights. */
export interface DecoderLayerWeights {
  inputNorm: Float32Array;
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  o: LinearWeights;
  postNorm: Float32Array;
  gate: LinearWeights;
  up: LinearWeights;
  down: LinearWeights;
}

/**
 * Draws layer weights in the one order every language-model form shares (input_layernorm, q, k, v,
 * o, post_attention_layernorm, gate, up, down), so the same seed gives every form the same weights.
 * Call it once per layer, in layer order, then `drawFinalNorm`.
 */
export function drawDecoderLayer(rng: SeededRandom, d: BundleDims): DecoderLayerWeights {
  const qkv = d.heads * d.headDim;
  return {
    inputNorm: drawNormWeight(rng, d.hidden),
    q: drawLinear(rng, d.hidden, qkv),
    k: drawLinear(rng, d.hidden, qkv),
    v: drawLinear(rng, d.hidden, qkv),
    o: drawLinear(rng, qkv, d.hidden),
    postNorm: drawNormWeight(rng, d.hidden),
    gate: drawLinear(rng, d.hidden, d.intermediate),
    up: drawLinear(rng, d.hidden, d.intermediate),
    down: drawLinear(rng, d.intermediate, d.hidden),
  };
}

/** model.norm, drawn after the last layer. */
export function drawFinalNorm(rng: SeededRandom, d: BundleDims): Float32Array {
  return drawNormWeight(rng, d.hidden);
}

/**
 * The Llama-style decoder of Janus as the public export splits it out: embeddings in, final-norm
 * hidden states out, KV cache as past_key_values.N.key/value -> present.N.key/value. This is the
 * `concat` form: plain ONNX ops, Concat(past, new) for the cache and a bool causal+padding mask.
 */
export function buildLanguageModel(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.language_model;
  const b = new GraphBuilder('language_model', weights);
  const kvShape = ['batch_size', d.heads, 'past_sequence_length', d.headDim];
  let x = b.input(io.inputsEmbeds, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  const attentionMask = b.input(io.attentionMask, DType.int64, ['batch_size', 'total_sequence_length']);
  const positionIds = b.input(io.positionIds, DType.int64, ['batch_size', 'sequence_length']);
  for (let i = 0; i < d.layers; i++) {
    b.input(io.pastKey(i), DType.float, kvShape);
    b.input(io.pastValue(i), DType.float, kvShape);
  }

  const allowed = causalPaddingMask(b, x, attentionMask);
  const [cos, sin] = rotaryTables(b, d, positionIds);

  for (let i = 0; i < d.layers; i++) {
    const p = `model.layers.${i}`;
    const w = drawDecoderLayer(rng, d);
    const qkv = d.heads * d.headDim;
    const h = rmsNormFrom(b, `${p}.input_layernorm`, x, d.rmsEps, w.inputNorm);
    const q = rope(b, splitHeads(b, linearFrom(b, `${p}.self_attn.q_proj`, h, d.hidden, qkv, w.q), d.heads, d.headDim), cos, sin, d.headDim);
    const k = rope(b, splitHeads(b, linearFrom(b, `${p}.self_attn.k_proj`, h, d.hidden, qkv, w.k), d.heads, d.headDim), cos, sin, d.headDim);
    const v = splitHeads(b, linearFrom(b, `${p}.self_attn.v_proj`, h, d.hidden, qkv, w.v), d.heads, d.headDim);
    const presentK = b.named(io.presentKey(i), 'Concat', [io.pastKey(i), k], { axis: 2 });
    const presentV = b.named(io.presentValue(i), 'Concat', [io.pastValue(i), v], { axis: 2 });
    const attn = mergeHeads(b, attention(b, q, presentK, presentV, d.headDim, allowed), d.heads * d.headDim);
    x = b.o('Add', [x, linearFrom(b, `${p}.self_attn.o_proj`, attn, qkv, d.hidden, w.o)]);

    const h2 = rmsNormFrom(b, `${p}.post_attention_layernorm`, x, d.rmsEps, w.postNorm);
    const gate = silu(b, linearFrom(b, `${p}.mlp.gate_proj`, h2, d.hidden, d.intermediate, w.gate));
    const up = linearFrom(b, `${p}.mlp.up_proj`, h2, d.hidden, d.intermediate, w.up);
    x = b.o('Add', [x, linearFrom(b, `${p}.mlp.down_proj`, b.o('Mul', [gate, up]), d.intermediate, d.hidden, w.down)]);
    b.output(io.presentKey(i), DType.float, ['batch_size', d.heads, 'total_sequence_length', d.headDim]);
    b.output(io.presentValue(i), DType.float, ['batch_size', d.heads, 'total_sequence_length', d.headDim]);
  }
  const normed = rmsNormFrom(b, 'model.norm', x, d.rmsEps, drawFinalNorm(rng, d));
  b.named(io.hiddenStates, 'Identity', [normed]);
  b.output(io.hiddenStates, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  return b;
}

/**
 * bool [B, 1, L, T]: query i (at absolute position T - L + i) may see key j when j <= T - L + i and
 * attention_mask[b, j] is 1.
 */
function causalPaddingMask(b: GraphBuilder, embeds: string, attentionMask: string): string {
  const zero = b.constInt([0], []);
  const one = b.constInt([1], []);
  const total = b.o('Gather', [b.o('Shape', [attentionMask]), one], { axis: 0 });
  const len = b.o('Gather', [b.o('Shape', [embeds]), one], { axis: 0 });
  const past = b.o('Sub', [total, len]);
  const queryPos = b.o('Add', [b.o('Range', [zero, len, one]), past]);
  const keyPos = b.o('Range', [zero, total, one]);
  const causal = b.o('LessOrEqual', [
    b.o('Unsqueeze', [keyPos, b.constInt([0])]),
    b.o('Unsqueeze', [queryPos, b.constInt([1])]),
  ]);
  const padding = b.o('Unsqueeze', [b.o('Cast', [attentionMask], { to: DType.bool }), b.constInt([1, 2])]);
  return b.o('And', [causal, padding]);
}

/** cos/sin [B, 1, L, hd] gathered from precomputed tables at position_ids. */
function rotaryTables(b: GraphBuilder, d: BundleDims, positionIds: string): [string, string] {
  const half = d.headDim / 2;
  const cos = new Float32Array(d.maxPositions * d.headDim);
  const sin = new Float32Array(d.maxPositions * d.headDim);
  for (let p = 0; p < d.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(d.ropeTheta, (-2 * i) / d.headDim);
      cos[p * d.headDim + i] = cos[p * d.headDim + i + half] = Math.cos(angle);
      sin[p * d.headDim + i] = sin[p * d.headDim + i + half] = Math.sin(angle);
    }
  }
  const dims = [d.maxPositions, d.headDim];
  const cosT = b.weight('rotary.cos_cache', { dtype: DType.float, dims, data: cos });
  const sinT = b.weight('rotary.sin_cache', { dtype: DType.float, dims, data: sin });
  const axis1 = b.constInt([1]);
  return [
    b.o('Unsqueeze', [b.o('Gather', [cosT, positionIds], { axis: 0 }), axis1]),
    b.o('Unsqueeze', [b.o('Gather', [sinT, positionIds], { axis: 0 }), axis1]),
  ];
}

/** x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]. */
function rope(b: GraphBuilder, x: string, cos: string, sin: string, headDim: number): string {
  const [x1, x2] = b.op('Split', [x, b.constInt([headDim / 2, headDim / 2])], { axis: -1 }, 2);
  const rotated = b.o('Concat', [b.o('Neg', [x2]), x1], { axis: -1 });
  return b.o('Add', [b.o('Mul', [x, cos]), b.o('Mul', [rotated, sin])]);
}
