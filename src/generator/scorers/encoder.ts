import { attention, drawLinear, gelu, layerNorm, mergeHeads, splitHeads, type LinearWeights } from '../layers.ts';
import onnxProto from 'onnx-proto';
import { DType, GraphBuilder, type DTypeCode } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';

/**
 * Transformer-encoder pieces shared by the scorer fixtures (ViT for DINO, CLIP's two towers), in
 * the pre-LayerNorm form both Hugging Face models use.
 */

/**
 * How linear layers are stored. fp32: float MatMul. q8: the form of the `_quantized.onnx` files
 * (onnxruntime's quantize_dynamic): int8 weights with a per-tensor scale, activations quantized at
 * run time by DynamicQuantizeLinear, MatMulInteger, then both scales applied.
 */
export type ScorerWeights = 'fp32' | 'q8';

const INT8 = onnxProto.onnx.TensorProto.DataType.INT8 as number as DTypeCode;

export interface EncoderDims {
  hidden: number;
  heads: number;
  layers: number;
  intermediate: number;
  eps: number;
  /** gelu: ViT's exact GELU; quick_gelu: CLIP's x * sigmoid(1.702 x). */
  act: 'gelu' | 'quick_gelu';
}

export function linearQ(b: GraphBuilder, rng: SeededRandom, name: string, x: string, inDim: number, outDim: number, weights: ScorerWeights, bias = true): string {
  return linearQFrom(b, name, x, inDim, outDim, drawLinear(rng, inDim, outDim, bias), weights);
}

export function linearQFrom(b: GraphBuilder, name: string, x: string, inDim: number, outDim: number, w: LinearWeights, weights: ScorerWeights): string {
  let y: string;
  if (weights === 'q8') {
    let max = 0;
    for (const v of w.weight) max = Math.max(max, Math.abs(v));
    const scale = max / 127 || 1;
    const q = Int8Array.from(w.weight, (v) => Math.max(-127, Math.min(127, Math.round(v / scale))));
    const wq = b.weight(`${name}.weight_quantized`, { dtype: INT8, dims: [inDim, outDim], data: new Uint8Array(q.buffer) });
    const wScale = b.weight(`${name}.weight_scale`, { dtype: DType.float, dims: [], data: Float32Array.of(scale) });
    const wZero = b.weight(`${name}.weight_zero_point`, { dtype: INT8, dims: [], data: new Uint8Array(1) });
    const [xq, xScale, xZero] = b.op('DynamicQuantizeLinear', [x], {}, 3);
    const prod = b.o('Cast', [b.o('MatMulInteger', [xq, wq, xZero, wZero])], { to: DType.float });
    y = b.o('Mul', [prod, b.o('Mul', [xScale, wScale])]);
  } else {
    y = b.o('MatMul', [x, b.weight(`${name}.weight`, { dtype: DType.float, dims: [inDim, outDim], data: w.weight })]);
  }
  if (!w.bias) return y;
  return b.o('Add', [y, b.weight(`${name}.bias`, { dtype: DType.float, dims: [outDim], data: w.bias })]);
}

function activation(b: GraphBuilder, x: string, act: EncoderDims['act']): string {
  if (act === 'gelu') return gelu(b, x);
  return b.o('Mul', [x, b.o('Sigmoid', [b.o('Mul', [x, b.constFloat([1.702], [])])])]);
}

/**
 * `layers` pre-LN blocks: h = x + attn(LN1(x)); out = h + MLP(LN2(h)).
 * `allowed`: a bool mask broadcastable to [B, heads, L, L] (CLIP text's causal mask), or none.
 */
export function encoder(b: GraphBuilder, rng: SeededRandom, prefix: string, x: string, d: EncoderDims, weights: ScorerWeights, allowed?: string): string {
  const headDim = d.hidden / d.heads;
  let h = x;
  for (let i = 0; i < d.layers; i++) {
    const p = `${prefix}.layers.${i}`;
    const n1 = layerNorm(b, rng, `${p}.layer_norm1`, h, d.hidden, d.eps);
    const q = splitHeads(b, linearQ(b, rng, `${p}.self_attn.q_proj`, n1, d.hidden, d.hidden, weights), d.heads, headDim);
    const k = splitHeads(b, linearQ(b, rng, `${p}.self_attn.k_proj`, n1, d.hidden, d.hidden, weights), d.heads, headDim);
    const v = splitHeads(b, linearQ(b, rng, `${p}.self_attn.v_proj`, n1, d.hidden, d.hidden, weights), d.heads, headDim);
    const att = mergeHeads(b, attention(b, q, k, v, headDim, allowed), d.hidden);
    h = b.o('Add', [h, linearQ(b, rng, `${p}.self_attn.out_proj`, att, d.hidden, d.hidden, weights)]);
    const n2 = layerNorm(b, rng, `${p}.layer_norm2`, h, d.hidden, d.eps);
    const mid = activation(b, linearQ(b, rng, `${p}.mlp.fc1`, n2, d.hidden, d.intermediate, weights), d.act);
    h = b.o('Add', [h, linearQ(b, rng, `${p}.mlp.fc2`, mid, d.intermediate, d.hidden, weights)]);
  }
  return h;
}

/**
 * ViT-style patch embeddings of `pixel_values` [B, 3, S, S]: a stride-P convolution, a class token
 * in front, learned position embeddings added. Returns [B, 1 + (S/P)^2, hidden].
 */
export function patchEmbeddings(b: GraphBuilder, rng: SeededRandom, prefix: string, pixels: string, hidden: number, patch: number, imageSize: number, convBias: boolean): string {
  const tokens = (imageSize / patch) ** 2 + 1;
  const conv = b.weight(`${prefix}.patch_embedding.weight`, { dtype: DType.float, dims: [hidden, 3, patch, patch], data: rng.normalArray(hidden * 3 * patch * patch, 1 / Math.sqrt(3 * patch * patch)) });
  const inputs = [pixels, conv];
  if (convBias) inputs.push(b.weight(`${prefix}.patch_embedding.bias`, { dtype: DType.float, dims: [hidden], data: rng.normalArray(hidden, 0.02) }));
  const grid = b.o('Conv', inputs, { kernel_shape: [patch, patch], strides: [patch, patch] });
  const seq = b.o('Transpose', [b.o('Reshape', [grid, b.constInt([0, hidden, -1])])], { perm: [0, 2, 1] });
  const cls = b.weight(`${prefix}.class_embedding`, { dtype: DType.float, dims: [1, 1, hidden], data: rng.normalArray(hidden, 0.5) });
  const batch = b.o('Gather', [b.o('Shape', [pixels]), b.constInt([0])], { axis: 0 });
  const clsB = b.o('Expand', [cls, b.o('Concat', [batch, b.constInt([1, hidden])], { axis: 0 })]);
  const pos = b.weight(`${prefix}.position_embedding`, { dtype: DType.float, dims: [1, tokens, hidden], data: rng.normalArray(tokens * hidden, 0.5) });
  return b.o('Add', [b.o('Concat', [clsB, seq], { axis: 1 }), pos]);
}
