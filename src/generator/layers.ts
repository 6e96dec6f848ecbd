import { DType, GraphBuilder, type AttrValue } from './onnx-builder.ts';
import { quantizeQ4 } from './quantize-q4.ts';
import type { SeededRandom } from '../util/seeded-random.ts';

const Q4_BLOCK = 32;

/** Building blocks shared by the fixture graphs; each takes and returns tensor names. */

/** The random weights of one linear layer, drawn apart from building so two graph forms can share them. */
export interface LinearWeights {
  /** [inDim, outDim] row-major (x @ weight). */
  weight: Float32Array;
  bias?: Float32Array;
}

/** Draws a linear layer's weights in the order `linear` always has: the matrix, then the bias. */
export function drawLinear(rng: SeededRandom, inDim: number, outDim: number, bias = false): LinearWeights {
  const weight = rng.normalArray(inDim * outDim, 1 / Math.sqrt(inDim));
  return bias ? { weight, bias: rng.normalArray(outDim, 0.02) } : { weight };
}

/** Draws an RMSNorm (or LayerNorm) scale as `rmsNorm` always has. */
export function drawNormWeight(rng: SeededRandom, dim: number): Float32Array {
  return rng.normalArray(dim, 0.05, 1);
}

/**
 * x @ W (+ b). In a q4 graph the same random weights become a 4-bit MatMulNBits, so the fp32 and q4
 * variants of a bundle compute nearly the same function.
 */
export function linear(b: GraphBuilder, rng: SeededRandom, name: string, x: string, inDim: number, outDim: number, bias = false): string {
  return linearFrom(b, name, x, inDim, outDim, drawLinear(rng, inDim, outDim, bias));
}

/**
 * `linear` with its weights already drawn. Initializers are `${name}.weight` (fp32) or
 * `${name}.weight_Q4` / `${name}.weight_scales` (q4), then `${name}.bias`; `output` names the
 * product (MatMul or MatMulNBits) instead of a generated name.
 */
export function linearFrom(b: GraphBuilder, name: string, x: string, inDim: number, outDim: number, w: LinearWeights, output?: string): string {
  const out = (type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = '') =>
    output ? b.op(type, inputs, attrs, [output], domain)[0] : b.o(type, inputs, attrs, domain);
  let y: string;
  if (b.weights !== 'fp32' && inDim % Q4_BLOCK === 0) {
    const q = quantizeQ4(w.weight, inDim, outDim, Q4_BLOCK);
    const packed = b.weight(`${name}.weight_Q4`, { dtype: DType.uint8, dims: [outDim, q.kBlocks, Q4_BLOCK / 2], data: q.packed });
    // Scales in the activations' type (MatMulNBits' T), as in the public _q4 and _q4f16 files.
    const scales = b.floatWeight(`${name}.weight_scales`, [outDim * q.kBlocks], q.scales);
    y = out('MatMulNBits', [x, packed, scales], { K: inDim, N: outDim, bits: 4, block_size: Q4_BLOCK, accuracy_level: 4 }, 'com.microsoft');
  } else {
    y = out('MatMul', [x, b.floatWeight(`${name}.weight`, [inDim, outDim], w.weight)]);
  }
  if (!w.bias) return y;
  const bv = b.floatWeight(`${name}.bias`, [outDim], w.bias);
  return b.o('Add', [y, bv]);
}

/** RMSNorm as in Llama: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(b: GraphBuilder, rng: SeededRandom, name: string, x: string, dim: number, eps: number): string {
  return rmsNormFrom(b, name, x, eps, drawNormWeight(rng, dim));
}

/** `rmsNorm` with its weight already drawn, as plain ONNX ops. */
export function rmsNormFrom(b: GraphBuilder, name: string, x: string, eps: number, weight: Float32Array): string {
  const w = b.weight(`${name}.weight`, { dtype: DType.float, dims: [weight.length], data: weight });
  const sq = b.o('Mul', [x, x]);
  const mean = b.o('ReduceMean', [sq], { axes: [-1], keepdims: 1 });
  const denom = b.o('Sqrt', [b.o('Add', [mean, b.constFloat([eps], [])])]);
  return b.o('Mul', [b.o('Div', [x, denom]), w]);
}

export function layerNorm(b: GraphBuilder, rng: SeededRandom, name: string, x: string, dim: number, eps: number): string {
  const w = b.weight(`${name}.weight`, { dtype: DType.float, dims: [dim], data: rng.normalArray(dim, 0.05, 1) });
  const bias = b.weight(`${name}.bias`, { dtype: DType.float, dims: [dim], data: rng.normalArray(dim, 0.02) });
  return b.o('LayerNormalization', [x, w, bias], { axis: -1, epsilon: { float: eps } });
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)); opset 17 has no Gelu op. */
export function gelu(b: GraphBuilder, x: string): string {
  const erf = b.o('Erf', [b.o('Mul', [x, b.constFloat([Math.SQRT1_2], [])])]);
  return b.o('Mul', [b.o('Mul', [x, b.constFloat([0.5], [])]), b.o('Add', [erf, b.constFloat([1], [])])]);
}

export function silu(b: GraphBuilder, x: string): string {
  return b.o('Mul', [x, b.o('Sigmoid', [x])]);
}

/** Two-layer MLP with GELU, the shape of Janus' aligners (mlp_gelu, depth 2). */
export function mlpGelu(b: GraphBuilder, rng: SeededRandom, name: string, x: string, inDim: number, outDim: number): string {
  const h = gelu(b, linear(b, rng, `${name}.0`, x, inDim, outDim, true));
  return linear(b, rng, `${name}.2`, h, outDim, outDim, true);
}

/** [B, L, heads*hd] -> [B, heads, L, hd] */
export function splitHeads(b: GraphBuilder, x: string, heads: number, headDim: number): string {
  const r = b.o('Reshape', [x, b.constInt([0, 0, heads, headDim])]);
  return b.o('Transpose', [r], { perm: [0, 2, 1, 3] });
}

/** [B, heads, L, hd] -> [B, L, heads*hd] */
export function mergeHeads(b: GraphBuilder, x: string, hidden: number): string {
  const t = b.o('Transpose', [x], { perm: [0, 2, 1, 3] });
  return b.o('Reshape', [t, b.constInt([0, 0, hidden])]);
}

/** softmax(q k^T / sqrt(hd), masked) v; `allowed` is a bool tensor broadcastable to the scores. */
export function attention(b: GraphBuilder, q: string, k: string, v: string, headDim: number, allowed?: string): string {
  const kt = b.o('Transpose', [k], { perm: [0, 1, 3, 2] });
  let scores = b.o('Mul', [b.o('MatMul', [q, kt]), b.constFloat([1 / Math.sqrt(headDim)], [])]);
  // A large finite negative (not -inf) keeps fully masked rows finite: they average uniformly.
  if (allowed) scores = b.o('Where', [allowed, scores, b.constFloat([-1e30], [])]);
  return b.o('MatMul', [b.o('Softmax', [scores], { axis: -1 }), v]);
}
