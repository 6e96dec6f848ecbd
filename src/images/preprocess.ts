import sharp, { type Interpolators } from 'sharp';
import { z } from 'zod';
import type { RgbImage } from './load.ts';

const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);

/** The fields of a bundle's preprocessor_config.json (VLMImageProcessor) that affect pixel values. */
export const preprocessorConfigSchema = z.object({
  image_size: z.number().int().positive(),
  background_color: rgbTriple,
  image_mean: rgbTriple,
  image_std: rgbTriple.refine((std) => std.every((s) => s !== 0), 'image_std must be non-zero'),
  rescale_factor: z.number().positive().default(1 / 255),
  do_rescale: z.boolean().default(true),
  do_normalize: z.boolean().default(false),
  // PIL resampling codes; transformers.js defaults to 2 (bilinear) when the file has none.
  resample: z.number().int().min(0).max(5).default(2),
  min_size: z.number().int().positive().optional(),
  max_size: z.number().int().positive().optional(),
});

export type PreprocessorConfig = z.infer<typeof preprocessorConfigSchema>;

export function parsePreprocessorConfig(json: unknown): PreprocessorConfig {
  return preprocessorConfigSchema.parse(json);
}

/**
 * Size after resizing, computed exactly as transformers.js's ImageProcessor.get_resize_output_image_size
 * does for an integer `image_size`: scale the short side to image_size, then scale down so the long side
 * is at most max_size (default image_size), and floor after rounding to 2 decimals.
 * Unlike transformers.js (which can reach 0 and then fail), each side is at least min_size, as in the
 * Janus reference; this only changes images more extreme than about 27:1.
 */
export function resizedSize(width: number, height: number, cfg: PreprocessorConfig): { width: number; height: number } {
  const shortest = cfg.image_size;
  const longest = cfg.max_size ?? shortest;
  const up = Math.max(shortest / width, shortest / height);
  const down = Math.min(longest / (width * up), longest / (height * up));
  const side = (n: number) => Math.max(Math.min(cfg.min_size ?? 1, shortest), Math.floor(Number((n * up * down).toFixed(2))));
  return { width: side(width), height: side(height) };
}

const INTERPOLATOR: Partial<Record<number, keyof Interpolators>> = {
  0: 'nearest',
  2: 'bilinear',
  3: 'bicubic',
  // transformers.js has no box or hamming filter and falls back to bilinear.
  4: 'bilinear',
  5: 'bilinear',
};

/**
 * How pixels are prepared.
 * - janus: the Janus Python reference the models were trained with: antialiased bicubic resize
 *   (PIL BICUBIC; sharp's cubic kernel), padded with background_color before normalizing.
 * - transformers-js: transformers.js' VLMImageProcessor, step for step (see toPixelValues).
 */
export type PreprocessMode = 'janus' | 'transformers-js';

/** transformers-js: the same sharp calls RawImage.resize makes in Node, so the pixels are identical. */
async function resize(image: RgbImage, width: number, height: number, resample: number, mode: PreprocessMode): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  let pipeline = sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
    limitInputPixels: false,
  });
  pipeline =
    mode === 'janus'
      ? pipeline.resize({ width, height, fit: 'fill', kernel: 'cubic' })
      : resample === 1
        ? pipeline.resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
        : pipeline.affine([width / image.width, 0, 0, height / image.height], {
            interpolator: sharp.interpolators[INTERPOLATOR[resample] ?? 'bilinear'],
          });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`resize produced ${info.channels} channels`);
  return { data, width: info.width, height: info.height };
}

/**
 * Model input for one image: Float32Array of shape [3, S, S] (CHW), S = cfg.image_size.
 *
 * In transformers-js mode it matches transformers.js's VLMImageProcessor step for step: resize (resizedSize, cfg.resample), rescale,
 * normalize, then pad to a centred square (offsets floored). Every intermediate is rounded to float32
 * where transformers.js stores it in a Float32Array.
 *
 * NOTE, inherited from transformers.js on purpose: it pads AFTER normalizing, with
 * background_color * rescale_factor (127/255 = 0.498, i.e. a light grey of about 191 in pixel terms).
 * The Janus Python reference pads the PIL image with background_color BEFORE normalizing, which gives
 * (127/255 - 0.5) / 0.5 = -0.0039 in the padded area.
 */
export async function toPixelValues(image: RgbImage, cfg: PreprocessorConfig, mode: PreprocessMode = 'janus'): Promise<Float32Array> {
  const size = cfg.image_size;
  const target = resizedSize(image.width, image.height, cfg);
  const resized = await resize(image, target.width, target.height, cfg.resample, mode);
  const { width, height, data } = resized;
  if (width > size || height > size) throw new Error(`resized image ${width}x${height} exceeds ${size}x${size}`);

  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const pad = mode === 'janus' ? normalize(cfg.background_color[c], c, cfg) : cfg.background_color[c] * cfg.rescale_factor;
    out.fill(pad, c * plane, (c + 1) * plane);
  }

  const left = Math.floor((size - width) / 2);
  const top = Math.floor((size - height) / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (y * width + x) * 3;
      const dst = (y + top) * size + x + left;
      for (let c = 0; c < 3; c++) out[c * plane + dst] = normalize(data[src + c], c, cfg);
    }
  }
  return out;
}

function normalize(pixel: number, channel: number, cfg: PreprocessorConfig): number {
  let v = pixel;
  if (cfg.do_rescale) v = Math.fround(cfg.rescale_factor * v);
  if (cfg.do_normalize) v = (v - cfg.image_mean[channel]) / cfg.image_std[channel];
  return v;
}

/** Concatenates per-image [3, S, S] arrays into one [n, 3, S, S] batch. */
export function stackPixelValues(list: readonly Float32Array[]): Float32Array {
  if (list.length === 0) throw new Error('stackPixelValues needs at least one image');
  const each = list[0].length;
  if (list.some((a) => a.length !== each)) throw new Error('stackPixelValues: images differ in size');
  const out = new Float32Array(each * list.length);
  list.forEach((a, i) => out.set(a, i * each));
  return out;
}
