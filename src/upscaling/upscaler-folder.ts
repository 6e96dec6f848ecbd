import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BundleError } from '../errors.ts';

/**
 * A super-resolution model folder as the Xenova Swin2SR repositories hold it
 * (Xenova/swin2SR-realworld-sr-x4-64-bsrgan-psnr, Xenova/swin2SR-lightweight-x2-64, ...):
 * config.json, preprocessor_config.json, onnx/model.onnx. Read unchanged; anything else is refused
 * with one line naming what is wrong.
 */

const configSchema = z.object({
  model_type: z.literal('swin2sr', { message: 'model_type is not swin2sr' }),
  architectures: z.array(z.string()).optional(),
  upscale: z.number().int().min(1).max(8),
  window_size: z.number().int().positive(),
  num_channels: z.number().int().default(3),
  num_channels_out: z.number().int().optional(),
  embed_dim: z.number().int().positive(),
  depths: z.array(z.number().int().nonnegative()),
  num_heads: z.array(z.number().int().positive()),
  upsampler: z.string().optional(),
  mlp_ratio: z.number().positive().default(2),
});

/** Swin2SRImageProcessor's fields, with transformers.js' defaults for missing ones. */
const processorSchema = z.object({
  image_processor_type: z.string().optional(),
  do_pad: z.boolean().default(true),
  pad_size: z.number().int().positive().default(8),
  do_rescale: z.boolean().default(true),
  rescale_factor: z.number().positive().default(1 / 255),
  do_normalize: z.literal(false, { message: 'do_normalize is not supported for Swin2SR' }).optional(),
  do_resize: z.literal(false, { message: 'do_resize is not supported for Swin2SR' }).optional(),
});

export interface UpscalerSpec {
  dir: string;
  modelPath: string;
  /** Output pixels per input pixel along each side (config.json upscale). */
  scale: number;
  windowSize: number;
  embedDim: number;
  depths: number[];
  numHeads: number[];
  mlpRatio: number;
  upsampler: string;
  processor: { doPad: boolean; padSize: number; doRescale: boolean; rescaleFactor: number };
}

const ARCHITECTURE = 'Swin2SRForImageSuperResolution';

function readJson(dir: string, name: string): unknown {
  const path = join(dir, name);
  if (!existsSync(path)) throw new BundleError('upscaler_invalid', `upscaler ${dir}: ${name} is missing`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new BundleError('upscaler_invalid', `upscaler ${dir}: ${name} is not valid JSON`);
  }
}

function firstIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/** Reads and checks an upscaler folder without loading the model. Throws BundleError('upscaler_invalid'). */
export function readUpscalerFolder(dir: string): UpscalerSpec {
  if (!existsSync(dir)) throw new BundleError('upscaler_invalid', `upscaler ${dir}: folder not found`);
  const raw = readJson(dir, 'config.json');
  const config = configSchema.safeParse(raw);
  if (!config.success) throw new BundleError('upscaler_invalid', `upscaler ${dir}: config.json is not a Swin2SR super-resolution model (${firstIssue(config.error)})`);
  const c = config.data;
  if (c.architectures && !c.architectures.includes(ARCHITECTURE)) {
    throw new BundleError('upscaler_invalid', `upscaler ${dir}: config.json architectures is ${c.architectures.join(', ')}, not ${ARCHITECTURE}`);
  }
  if (c.num_channels !== 3 || (c.num_channels_out ?? 3) !== 3) throw new BundleError('upscaler_invalid', `upscaler ${dir}: only RGB models (num_channels 3) are supported`);
  const processor = processorSchema.safeParse(readJson(dir, 'preprocessor_config.json'));
  if (!processor.success) throw new BundleError('upscaler_invalid', `upscaler ${dir}: preprocessor_config.json: ${firstIssue(processor.error)}`);
  const p = processor.data;
  const modelPath = join(dir, 'onnx', 'model.onnx');
  if (!existsSync(modelPath)) throw new BundleError('upscaler_invalid', `upscaler ${dir}: onnx/model.onnx is missing`);
  return {
    dir,
    modelPath,
    scale: c.upscale,
    windowSize: c.window_size,
    embedDim: c.embed_dim,
    depths: c.depths,
    numHeads: c.num_heads,
    mlpRatio: c.mlp_ratio,
    upsampler: c.upsampler ?? 'pixelshuffle',
    processor: { doPad: p.do_pad, padSize: p.pad_size, doRescale: p.do_rescale, rescaleFactor: p.rescale_factor },
  };
}
