import type { RgbImage } from '../images/load.ts';
import type { UpscalerSpec } from './upscaler-folder.ts';

/**
 * Pixels in and out of a Swin2SR graph, with the arithmetic of transformers.js' Swin2SRImageProcessor
 * and image-to-image pipeline, so that the same model gives the same 8-bit pixels.
 */

/** Swin2SRImageProcessor's rule: pad up to a multiple of pad_size, and not at all when already one. */
export function paddedSize(size: number, padSize: number): number {
  return size + ((padSize - (size % padSize)) % padSize);
}

/** transformers.js' calculateReflectOffset: index i mirrored into [0, last] without repeating the edge. */
function reflect(i: number, last: number): number {
  return last === 0 ? 0 : Math.abs(((i + last) % (2 * last)) - last);
}

export interface PixelPlanes {
  /** [3, height, width], float. */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * HWC 8-bit RGB -> CHW float: rescaled (v * rescale_factor, stored as float32), then padded at the
 * bottom and right to multiples of pad_size by mirroring (transformers.js' 'symmetric' mode, which
 * mirrors without repeating the edge row).
 */
export function toPixelValues(image: RgbImage, spec: Pick<UpscalerSpec, 'processor'>): PixelPlanes {
  const { doPad, padSize, doRescale, rescaleFactor } = spec.processor;
  const { width: w, height: h } = image;
  const pw = doPad ? paddedSize(w, padSize) : w;
  const ph = doPad ? paddedSize(h, padSize) : h;
  const plane = pw * ph;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < ph; y++) {
    const sy = y < h ? y : reflect(y, h - 1);
    for (let x = 0; x < pw; x++) {
      const sx = x < w ? x : reflect(x, w - 1);
      const src = (sy * w + sx) * 3;
      const dst = y * pw + x;
      for (let c = 0; c < 3; c++) data[c * plane + dst] = doRescale ? rescaleFactor * image.data[src + c] : image.data[src + c];
    }
  }
  return { data, width: pw, height: ph };
}

/**
 * The model's output [3, H, W] (float, 0..1) -> HWC 8-bit RGB of the top-left `width` x `height`:
 * the padding's share of the output is cropped away, then clamp(0, 1), * 255 (as float32), round
 * half up, as the pipeline's clamp_(0, 1).mul_(255).round_().to('uint8').
 */
export function toRgb(planes: PixelPlanes, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const plane = planes.width * planes.height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = y * planes.width + x;
      const dst = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = planes.data[c * plane + src];
        // NaN clamps to 0, as Uint8Array does with the reference's NaN.
        const clamped = v > 1 ? 1 : v >= 0 ? v : 0;
        out[dst + c] = Math.round(Math.fround(clamped * 255));
      }
    }
  }
  return { data: out, width, height };
}
