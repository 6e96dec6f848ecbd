import { DType, GraphBuilder } from '../onnx-builder.ts';
import { gelu, layerNorm } from '../layers.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';

/**
 * onnx/model.onnx of the Xenova Swin2SR exports (Swin2SRForImageSuperResolution):
 * pixel_values [B, 3, H, W] in [0, 1] -> reconstruction [B, 3, H*upscale, W*upscale].
 *
 * The graph follows Hugging Face's Swin2SR forward pass: reflect-pad to a multiple of window_size,
 * subtract the RGB mean, conv_first, residual Swin-V2 groups (post-norm blocks with scaled cosine
 * window attention, every second block on windows shifted by half a window with the shifted-window
 * mask), a 3x3 conv per group, the final LayerNorm and conv_after_body, the configured upsampler,
 * add the mean back and crop to H*upscale x W*upscale. The continuous position bias and the logit
 * scales are input-independent, so they are stored as the constants an ONNX export folds them to.
 */
export type Swin2SRUpsampler = 'nearest+conv' | 'pixelshuffle' | 'pixelshuffledirect';

export interface Swin2SRDims {
  embedDim: number;
  depths: number[];
  numHeads: number[];
  windowSize: number;
  mlpRatio: number;
  upscale: number;
  upsampler: Swin2SRUpsampler;
  /** Channels of the upsampler's convs (64 in Hugging Face's Swin2SR). */
  numFeat: number;
  eps: number;
}

/** DIV2K's RGB mean, which Swin2SR subtracts for 3-channel images. */
export const SWIN2SR_MEAN = [0.4488, 0.4371, 0.404];

const PIXELS = ['batch_size', 'num_channels', 'height', 'width'];

export function buildSwin2SR(d: Swin2SRDims, rng: SeededRandom): GraphBuilder {
  const b = new GraphBuilder('swin2sr');
  const C = d.embedDim;
  const ws = d.windowSize;
  const shift = Math.floor(ws / 2);
  const pixels = b.input('pixel_values', DType.float, PIXELS);

  const int = (name: string) => b.o('Gather', [b.o('Shape', [pixels]), b.constInt([['B', 'C', 'H', 'W'].indexOf(name)])], { axis: 0 });
  const H = int('H');
  const W = int('W');
  const wsT = b.constInt([ws]);
  const padH = b.o('Mod', [b.o('Sub', [wsT, b.o('Mod', [H, wsT])]), wsT]);
  const padW = b.o('Mod', [b.o('Sub', [wsT, b.o('Mod', [W, wsT])]), wsT]);
  const Hp = b.o('Add', [H, padH]);
  const Wp = b.o('Add', [W, padW]);
  const nWh = b.o('Div', [Hp, wsT]);
  const nWw = b.o('Div', [Wp, wsT]);
  const pads = b.o('Concat', [b.constInt([0, 0, 0, 0, 0, 0]), padH, padW], { axis: 0 });
  const padded = b.o('Pad', [pixels, pads], { mode: 'reflect' });
  const mean = b.constFloat(SWIN2SR_MEAN, [1, 3, 1, 1]);
  const x0 = b.o('Sub', [padded, mean]);

  const conv = (name: string, x: string, cin: number, cout: number, k = 3, scale = 1) => {
    const w = b.weight(`${name}.weight`, { dtype: DType.float, dims: [cout, cin, k, k], data: rng.normalArray(cout * cin * k * k, scale / Math.sqrt(cin * k * k)) });
    const bias = b.weight(`${name}.bias`, { dtype: DType.float, dims: [cout], data: rng.normalArray(cout, 0.01) });
    return b.o('Conv', [x, w, bias], { kernel_shape: [k, k], pads: [k >> 1, k >> 1, k >> 1, k >> 1] });
  };
  const linear = (name: string, x: string, cin: number, cout: number, bias = true) => {
    const y = b.o('MatMul', [x, b.weight(`${name}.weight`, { dtype: DType.float, dims: [cin, cout], data: rng.normalArray(cin * cout, 1 / Math.sqrt(cin)) })]);
    return bias ? b.o('Add', [y, b.weight(`${name}.bias`, { dtype: DType.float, dims: [cout], data: rng.normalArray(cout, 0.02) })]) : y;
  };
  const toNhwc = (x: string) => b.o('Transpose', [x], { perm: [0, 2, 3, 1] });
  const toNchw = (x: string) => b.o('Transpose', [x], { perm: [0, 3, 1, 2] });

  // [B, Hp, Wp, C] -> [B*nW, ws*ws, C] and back, in Swin's window order.
  const partition = (x: string) => {
    const r = b.o('Reshape', [x, b.o('Concat', [b.constInt([0, -1, ws]), nWw, b.constInt([ws, C])], { axis: 0 })]);
    return b.o('Reshape', [b.o('Transpose', [r], { perm: [0, 1, 3, 2, 4, 5] }), b.constInt([-1, ws * ws, C])]);
  };
  const merge = (x: string) => {
    const r = b.o('Reshape', [x, b.o('Concat', [b.constInt([-1]), nWh, nWw, b.constInt([ws, ws, C])], { axis: 0 })]);
    return b.o('Reshape', [b.o('Transpose', [r], { perm: [0, 1, 3, 2, 4, 5] }), b.o('Concat', [b.constInt([-1]), Hp, Wp, b.constInt([C])], { axis: 0 })]);
  };
  // torch.roll by -shift (forward) or +shift (back) along H and W of [B, Hp, Wp, C].
  const roll = (x: string, by: number) => {
    let y = x;
    for (const axis of [1, 2]) {
      const head = b.o('Slice', [y, b.constInt([by]), b.constInt([Number.MAX_SAFE_INTEGER]), b.constInt([axis])]);
      const tail = b.o('Slice', [y, b.constInt([0]), b.constInt([by]), b.constInt([axis])]);
      y = b.o('Concat', [head, tail], { axis });
    }
    return y;
  };

  // The shifted-window mask: positions of a window that came from different image regions after
  // the roll do not attend to each other. Region of a row: 0 before Hp-ws, 1 before Hp-shift, 2 after.
  const region = (n: string) => {
    const idx = b.o('Range', [b.constInt([0], []), b.o('Squeeze', [n]), b.constInt([1], [])]);
    const a = b.o('Cast', [b.o('Less', [idx, b.o('Sub', [n, b.constInt([ws])])])], { to: DType.int64 });
    const c = b.o('Cast', [b.o('Less', [idx, b.o('Sub', [n, b.constInt([shift])])])], { to: DType.int64 });
    return b.o('Sub', [b.constInt([2]), b.o('Add', [a, c])]);
  };
  const ids = b.o('Add', [b.o('Mul', [b.o('Unsqueeze', [region(Hp), b.constInt([1])]), b.constInt([3])]), b.o('Unsqueeze', [region(Wp), b.constInt([0])])]);
  const idsWin = b.o('Reshape', [
    b.o('Transpose', [b.o('Reshape', [ids, b.o('Concat', [nWh, b.constInt([ws]), nWw, b.constInt([ws])], { axis: 0 })])], { perm: [0, 2, 1, 3] }),
    b.constInt([-1, ws * ws]),
  ]);
  const differ = b.o('Not', [b.o('Equal', [b.o('Unsqueeze', [idsWin, b.constInt([2])]), b.o('Unsqueeze', [idsWin, b.constInt([1])])])]);
  const maskOne = b.o('Unsqueeze', [b.o('Mul', [b.o('Cast', [differ], { to: DType.float }), b.constFloat([-100], [])]), b.constInt([1])]);
  const batch = int('B');
  const shiftMask = b.o('Tile', [maskOne, b.o('Concat', [batch, b.constInt([1, 1, 1])], { axis: 0 })]);

  const block = (p: string, x: string, heads: number, shifted: boolean) => {
    const hd = C / heads;
    const win = partition(shifted ? roll(x, shift) : x);
    const split = (t: string) => b.o('Transpose', [b.o('Reshape', [t, b.constInt([0, 0, heads, hd])])], { perm: [0, 2, 1, 3] });
    const q = split(linear(`${p}.attention.self.query`, win, C, C));
    const k = split(linear(`${p}.attention.self.key`, win, C, C, false));
    const v = split(linear(`${p}.attention.self.value`, win, C, C));
    const unit = (t: string) => b.o('Div', [t, b.o('Max', [b.o('ReduceL2', [t], { axes: [-1], keepdims: 1 }), b.constFloat([1e-12], [])])]);
    const logitScale = Float32Array.from({ length: heads }, () => Math.exp(Math.min(Math.log(10) + 0.1 * rng.normal(), Math.log(100))));
    let scores = b.o('Mul', [b.o('MatMul', [unit(q), b.o('Transpose', [unit(k)], { perm: [0, 1, 3, 2] })]), b.weight(`${p}.attention.self.logit_scale_exp`, { dtype: DType.float, dims: [heads, 1, 1], data: logitScale })]);
    const bias = Float32Array.from(rng.normalArray(heads * ws ** 4, 1), (z) => 16 / (1 + Math.exp(-z)));
    scores = b.o('Add', [scores, b.weight(`${p}.attention.self.relative_position_bias`, { dtype: DType.float, dims: [1, heads, ws * ws, ws * ws], data: bias })]);
    if (shifted) scores = b.o('Add', [scores, shiftMask]);
    const att = b.o('Reshape', [b.o('Transpose', [b.o('MatMul', [b.o('Softmax', [scores], { axis: -1 }), v])], { perm: [0, 2, 1, 3] }), b.constInt([0, 0, C])]);
    const out = merge(linear(`${p}.attention.output.dense`, att, C, C));
    const h = b.o('Add', [x, layerNorm(b, rng, `${p}.layernorm_before`, shifted ? roll(out, -shift) : out, C, d.eps)]);
    const hidden = Math.round(C * d.mlpRatio);
    const mlp = linear(`${p}.output.dense`, gelu(b, linear(`${p}.intermediate.dense`, h, C, hidden)), hidden, C);
    return b.o('Add', [h, layerNorm(b, rng, `${p}.layernorm_after`, mlp, C, d.eps)]);
  };

  const first = conv('swin2sr.first_convolution', x0, 3, C);
  let x = layerNorm(b, rng, 'swin2sr.embeddings.patch_embeddings.layernorm', toNhwc(first), C, d.eps);
  d.depths.forEach((depth, s) => {
    const groupIn = x;
    let y = x;
    for (let i = 0; i < depth; i++) y = block(`swin2sr.encoder.stages.${s}.layers.${i}`, y, d.numHeads[s], i % 2 === 1);
    x = b.o('Add', [groupIn, toNhwc(conv(`swin2sr.encoder.stages.${s}.conv`, toNchw(y), C, C))]);
  });
  x = layerNorm(b, rng, 'swin2sr.layernorm', x, C, d.eps);
  const body = b.o('Add', [first, conv('swin2sr.conv_after_body', toNchw(x), C, C)]);

  const lrelu = (t: string, alpha: number) => b.o('LeakyRelu', [t], { alpha: { float: alpha } });
  const s = d.upscale;
  let out: string;
  // The last conv is drawn small so that random weights give pixels around the mean, mostly inside [0, 1].
  const LAST = 0.15;
  if (d.upsampler === 'pixelshuffledirect') {
    out = b.o('DepthToSpace', [conv('upsample.conv', body, C, 3 * s * s, 3, LAST)], { blocksize: s, mode: 'CRD' });
  } else if (d.upsampler === 'pixelshuffle') {
    let f = lrelu(conv('conv_before_upsample.0', body, C, d.numFeat), 0.01);
    for (let i = 0; i < Math.log2(s); i++) f = b.o('DepthToSpace', [conv(`upsample.convolution_${i}`, f, d.numFeat, 4 * d.numFeat)], { blocksize: 2, mode: 'CRD' });
    out = conv('final_convolution', f, d.numFeat, 3, 3, LAST);
  } else {
    if (s !== 4) throw new Error('nearest+conv upsamples x4 only (as in Swin2SR)');
    let f = lrelu(conv('conv_before_upsample', body, C, d.numFeat), 0.01);
    const up = (t: string) => b.o('Resize', [t, '', b.constFloat([1, 1, 2, 2])], { mode: 'nearest' });
    f = lrelu(conv('upsample.conv_up1', up(f), d.numFeat, d.numFeat), 0.2);
    f = lrelu(conv('upsample.conv_up2', up(f), d.numFeat, d.numFeat), 0.2);
    f = lrelu(conv('upsample.conv_hr', f, d.numFeat, d.numFeat), 0.2);
    out = conv('upsample.conv_last', f, d.numFeat, 3, 3, LAST);
  }
  const restored = b.o('Add', [out, mean]);
  const sT = b.constInt([s]);
  const ends = b.o('Concat', [b.o('Mul', [H, sT]), b.o('Mul', [W, sT])], { axis: 0 });
  b.named('reconstruction', 'Slice', [restored, b.constInt([0, 0]), ends, b.constInt([2, 3])]);
  b.output('reconstruction', DType.float, ['batch_size', 'num_channels', 'height', 'width']);
  return b;
}
