import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../util/seeded-random.ts';
import { buildSwin2SR, type Swin2SRDims } from './swin2sr-graph.ts';

/**
 * Random-weight super-resolution models in the layout of the public transformers.js repositories
 * Xenova/swin2SR-realworld-sr-x4-64-bsrgan-psnr and Xenova/swin2SR-lightweight-x2-64: config.json,
 * preprocessor_config.json and quantize_config.json with the real keys and values (sizes shrunk
 * unless `real`), onnx/model.onnx with the export's input and output names and dynamic axes.
 */

export const UPSCALER_FIXTURES = {
  x4: 'swin2SR-realworld-sr-x4-64-bsrgan-psnr',
  x2: 'swin2SR-lightweight-x2-64',
} as const;

/** caidas/swin2SR-realworld-sr-x4-64-bsrgan-psnr's sizes (config.json). */
export const REAL_X4_DIMS: Swin2SRDims = {
  embedDim: 180, depths: [6, 6, 6, 6, 6, 6], numHeads: [6, 6, 6, 6, 6, 6], windowSize: 8, mlpRatio: 2, upscale: 4, upsampler: 'nearest+conv', numFeat: 64, eps: 1e-5,
};
/** caidas/swin2SR-lightweight-x2-64's sizes. */
export const REAL_X2_DIMS: Swin2SRDims = {
  embedDim: 60, depths: [6, 6, 6, 6], numHeads: [6, 6, 6, 6], windowSize: 8, mlpRatio: 2, upscale: 2, upsampler: 'pixelshuffledirect', numFeat: 64, eps: 1e-5,
};
/** Test sizes: the real window, upsampler and scale; fewer, narrower blocks. */
export const FIXTURE_X4_DIMS: Swin2SRDims = { ...REAL_X4_DIMS, embedDim: 24, depths: [2, 2], numHeads: [2, 2], numFeat: 16 };
export const FIXTURE_X2_DIMS: Swin2SRDims = { ...REAL_X2_DIMS, embedDim: 24, depths: [2], numHeads: [2] };

export interface UpscalerFixtureOptions {
  seed?: number;
  real?: boolean;
}

const json = (dir: string, name: string, value: unknown) => writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);

/** Writes one Swin2SR folder of the Xenova layout with the given sizes. */
export function writeSwin2SRFolder(dir: string, d: Swin2SRDims, source: string, seed: number): void {
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'onnx', 'model.onnx'), buildSwin2SR(d, new SeededRandom(seed).fork(source)).build().model);
  json(dir, 'config.json', {
    _name_or_path: source,
    architectures: ['Swin2SRForImageSuperResolution'],
    attention_probs_dropout_prob: 0.0,
    depths: d.depths,
    drop_path_rate: 0.1,
    embed_dim: d.embedDim,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    image_size: 64,
    img_range: 1.0,
    initializer_range: 0.02,
    layer_norm_eps: d.eps,
    mlp_ratio: d.mlpRatio,
    model_type: 'swin2sr',
    num_channels: 3,
    num_channels_out: 3,
    num_heads: d.numHeads,
    num_layers: d.depths.length,
    patch_size: 1,
    path_norm: true,
    qkv_bias: true,
    resi_connection: '1conv',
    transformers_version: '4.36.0.dev0',
    upsampler: d.upsampler,
    upscale: d.upscale,
    use_absolute_embeddings: false,
    window_size: d.windowSize,
  });
  json(dir, 'preprocessor_config.json', {
    do_pad: true,
    do_rescale: true,
    image_processor_type: 'Swin2SRImageProcessor',
    pad_size: 8,
    rescale_factor: 0.00392156862745098,
  });
  // What the Xenova conversion script records about its quantized variant (not read by the bot).
  json(dir, 'quantize_config.json', { per_channel: true, reduce_range: true, per_model_config: { model: { op_types: ['Conv', 'MatMul', 'DepthToSpace', 'Pad', 'Softmax'], weight_type: 'QUInt8' } } });
}

/** Writes DIR/swin2SR-realworld-sr-x4-64-bsrgan-psnr and DIR/swin2SR-lightweight-x2-64. */
export function writeUpscalerFixtures(dir: string, { seed = 3, real = false }: UpscalerFixtureOptions = {}): { x4: string; x2: string } {
  const x4 = join(dir, UPSCALER_FIXTURES.x4);
  const x2 = join(dir, UPSCALER_FIXTURES.x2);
  writeSwin2SRFolder(x4, real ? REAL_X4_DIMS : FIXTURE_X4_DIMS, `caidas/${UPSCALER_FIXTURES.x4}`, seed);
  writeSwin2SRFolder(x2, real ? REAL_X2_DIMS : FIXTURE_X2_DIMS, `caidas/${UPSCALER_FIXTURES.x2}`, seed + 1);
  return { x4, x2 };
}
