import sharp from 'sharp';
import { z } from 'zod';
import type { RgbImage } from '../images/load.ts';

const triple = z.tuple([z.number(), z.number(), z.number()]);
const sizeSchema = z.union([
  z.number().int().positive(),
  z.object({ shortest_edge: z.number().int().positive().optional(), longest_edge: z.number().int().positive().optional(), height: z.number().int().positive().optional(), width: z.number().int().positive().optional() }),
]);

/**
 * The fields of a ViT / CLIP preprocessor_config.json that decide pixel values, with the defaults
 * transformers.js' ImageProcessor gives missing ones. Forms we do not implement (thumbnail, padding,
 * size divisibility, DPT's aspect rules, channel flips) are refused rather than ignored.
 */
export const imageProcessorSchema = z
  .object({
    do_resize: z.boolean().optional(),
    size: sizeSchema.optional(),
    image_size: sizeSchema.optional(),
    max_size: z.number().int().positive().optional(),
    resample: z.number().int().min(0).max(5).default(2),
    do_center_crop: z.boolean().default(false),
    crop_size: sizeSchema.optional(),
    do_rescale: z.boolean().default(true),
    rescale_factor: z.number().positive().default(1 / 255),
    do_normalize: z.boolean().default(false),
    image_mean: z.union([triple, z.number()]).optional(),
    image_std: z.union([triple, z.number()]).optional(),
    do_thumbnail: z.literal(false).optional(),
    do_pad: z.literal(false).optional(),
    do_flip_channel_order: z.literal(false).optional(),
    do_crop_margin: z.literal(false).optional(),
    size_divisibility: z.undefined().optional(),
    size_divisor: z.undefined().optional(),
    keep_aspect_ratio: z.literal(false).optional(),
  });

export type ImageProcessorConfig = z.infer<typeof imageProcessorSchema>;

/** How an image becomes pixel_values: the folder's processor config, or a fixed evaluation protocol. */
export type PixelProtocol = { kind: 'processor'; config: ImageProcessorConfig } | { kind: 'dreambench' };

export function parseImageProcessorConfig(json: unknown): ImageProcessorConfig {
  return imageProcessorSchema.parse(json);
}

/** PIL resample codes as transformers.js maps them to sharp (box and hamming fall back to bilinear there). */
const INTERPOLATOR: Record<number, 'nearest' | 'bilinear' | 'bicubic'> = { 0: 'nearest', 2: 'bilinear', 3: 'bicubic', 4: 'bilinear', 5: 'bilinear' };

/** ImageNet statistics, the DreamBench protocol's DINO normalization. */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Resize target as transformers.js' ImageProcessor.get_resize_output_image_size computes it. */
export function resizeTarget(width: number, height: number, cfg: ImageProcessorConfig): [number, number] {
  const size = cfg.size ?? cfg.image_size;
  let shortest: number | undefined;
  let longest: number | undefined;
  if (typeof size === 'number') {
    shortest = size;
    longest = cfg.max_size ?? size;
  } else if (size) {
    shortest = size.shortest_edge;
    longest = size.longest_edge;
  }
  if (shortest !== undefined || longest !== undefined) {
    const up = shortest === undefined ? 1 : Math.max(shortest / width, shortest / height);
    const w = width * up;
    const h = height * up;
    const down = longest === undefined ? 1 : Math.min(longest / w, longest / h);
    return [Math.floor(Number((w * down).toFixed(2))), Math.floor(Number((h * down).toFixed(2)))];
  }
  if (typeof size === 'object' && size.width !== undefined && size.height !== undefined) return [size.width, size.height];
  throw new Error(`unsupported size in preprocessor_config.json: ${JSON.stringify(size)}`);
}

/** RawImage.resize in Node: sharp's affine with the mapped interpolator (lanczos: a lanczos3 resize). */
async function resizeLikeTransformersJs(image: RgbImage, width: number, height: number, resample: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  let p = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 }, limitInputPixels: false });
  p = resample === 1
    ? p.resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
    : p.affine([width / image.width, 0, 0, height / image.height], { interpolator: sharp.interpolators[INTERPOLATOR[resample]] });
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) throw new Error(`resize gave ${info.width}x${info.height}x${info.channels}, wanted ${width}x${height}x3`);
  return { data, width, height };
}

/**
 * Crop of cropW x cropH around the centre; where the image is smaller, black padding. The offsets
 * are those of RawImage.center_crop (floored half differences) for every case it distinguishes.
 */
function centerCrop(image: RgbImage, cropW: number, cropH: number, round: (x: number) => number = Math.floor): RgbImage {
  if (image.width === cropW && image.height === cropH) return image;
  const offset = (diff: number) => (diff >= 0 ? round(diff / 2) : -round(-diff / 2));
  const left = offset(image.width - cropW);
  const top = offset(image.height - cropH);
  const out = new Uint8Array(cropW * cropH * 3);
  for (let y = 0; y < cropH; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= image.height) continue;
    for (let x = 0; x < cropW; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= image.width) continue;
      const s = (sy * image.width + sx) * 3;
      const d = (y * cropW + x) * 3;
      out[d] = image.data[s];
      out[d + 1] = image.data[s + 1];
      out[d + 2] = image.data[s + 2];
    }
  }
  return { data: out, width: cropW, height: cropH };
}

/** HWC bytes -> CHW float32, rescaled and normalized with float32 intermediates as transformers.js stores them. */
function toChw(image: RgbImage, rescale: number | null, mean: number[] | null, std: number[] | null): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      let v = image.data[i * 3 + c];
      if (rescale !== null) v = Math.fround(rescale * v);
      if (mean && std) v = (v - mean[c]) / std[c];
      out[c * plane + i] = v;
    }
  }
  return out;
}

function channels(v: [number, number, number] | number | undefined, what: string): number[] {
  if (v === undefined) throw new Error(`preprocessor_config.json has do_normalize but no ${what}`);
  return typeof v === 'number' ? [v, v, v] : v;
}

/**
 * pixel_values [3, H, W] for one image exactly as transformers.js' ImageProcessor.preprocess makes
 * them from the same config: resize, center crop, rescale, normalize.
 */
export async function processorPixels(image: RgbImage, cfg: ImageProcessorConfig): Promise<{ pixels: Float32Array; width: number; height: number }> {
  let img = image;
  const doResize = cfg.do_resize ?? (cfg.size ?? cfg.image_size) !== undefined;
  if (doResize) {
    const [w, h] = resizeTarget(img.width, img.height, cfg);
    img = await resizeLikeTransformersJs(img, w, h, cfg.resample);
  }
  if (cfg.do_center_crop) {
    const crop = cfg.crop_size;
    if (crop === undefined) throw new Error('preprocessor_config.json has do_center_crop but no crop_size');
    const [cw, ch] = typeof crop === 'number' ? [crop, crop] : [crop.width, crop.height];
    if (cw === undefined || ch === undefined) throw new Error(`unsupported crop_size: ${JSON.stringify(crop)}`);
    img = centerCrop(img, cw, ch);
  }
  const pixels = toChw(
    img,
    cfg.do_rescale ? cfg.rescale_factor : null,
    cfg.do_normalize ? channels(cfg.image_mean, 'image_mean') : null,
    cfg.do_normalize ? channels(cfg.image_std, 'image_std') : null,
  );
  return { pixels, width: img.width, height: img.height };
}

/** Python's round(): halves to even (torchvision's center_crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The DreamBench evaluation transform for DINO (DreamBooth's protocol, as torchvision writes it):
 * Resize(256, bicubic) on the short side (long side truncated like torchvision), CenterCrop(224)
 * (offsets rounded half to even), ToTensor, Normalize(ImageNet mean, std). The resize is sharp's
 * antialiased Catmull-Rom ('cubic'), the a = -0.5 cubic PIL's BICUBIC uses; libvips and PIL still
 * round differently, so pixels are close to the Python pipeline's, not identical.
 */
export async function dreamBenchPixels(image: RgbImage, resize = 256, crop = 224): Promise<Float32Array> {
  const short = Math.min(image.width, image.height);
  const long = Math.max(image.width, image.height);
  const longSide = Math.trunc((resize * long) / short);
  const [w, h] = image.width <= image.height ? [resize, longSide] : [longSide, resize];
  let img = image;
  if (w !== image.width || h !== image.height) {
    const { data } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 }, limitInputPixels: false })
      .resize({ width: w, height: h, fit: 'fill', kernel: 'cubic' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    img = { data, width: w, height: h };
  }
  img = centerCrop(img, crop, crop, roundHalfEven);
  return toChw(img, 1 / 255, IMAGENET_MEAN, IMAGENET_STD);
}
