import sharp from 'sharp';

/**
 * Image `index` of a VQ decoder output (values in [-1, 1], shape [n, channels, size, size]) as
 * 8-bit HWC pixels.
 *
 * Same arithmetic as transformers.js generate_images: add_(1).mul_(255 / 2).clamp_(0, 255).to('uint8'),
 * where each step is stored in a Float32Array and the final Uint8Array.from truncates toward zero
 * (like numpy's astype(uint8) in the Janus reference). NaN becomes 0.
 */
export function decodedToImage(decoded: Float32Array, index: number, size: number, channels = 3): Uint8Array {
  const plane = size * size;
  const offset = index * channels * plane;
  if (!Number.isInteger(index) || index < 0 || offset + channels * plane > decoded.length) {
    throw new RangeError(`image ${index} of ${channels}x${size}x${size} is outside a tensor of ${decoded.length}`);
  }
  const out = new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    for (let p = 0; p < plane; p++) {
      const x = Math.fround(Math.fround(decoded[offset + c * plane + p] + 1) * (255 / 2));
      out[p * channels + c] = Math.min(Math.max(x, 0), 255); // Uint8Array truncates; NaN -> 0
    }
  }
  return out;
}

export type OutputFormat = 'png' | 'webp';

export interface EncodeOptions {
  format: OutputFormat;
  /** WebP quality 1-100 (default 90); ignored for PNG, which is lossless. */
  quality?: number;
}

/**
 * Encodes 8-bit RGB (HWC) pixels. PNG output is deterministic: the same pixels always give the same
 * bytes (fixed settings, no metadata or timestamps).
 */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  options: EncodeOptions = { format: 'png' },
): Promise<Buffer> {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`expected ${width}x${height}x3 = ${width * height * 3} bytes of RGB, got ${rgb.length}`);
  }
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  return options.format === 'png'
    ? image.png({ compressionLevel: 9, adaptiveFiltering: false, palette: false }).toBuffer()
    : image.webp({ quality: options.quality ?? 90, effort: 4 }).toBuffer();
}

export interface FittedImage {
  data: Buffer;
  format: OutputFormat;
  /** Set for WebP. */
  quality?: number;
}

const WEBP_QUALITIES = [90, 80, 70, 60, 50, 40, 30];

/** Lossless PNG if it fits in maxBytes, else WebP at decreasing quality; throws if nothing fits. */
export async function reencodeToFit(
  rgb: Uint8Array,
  width: number,
  height: number,
  maxBytes: number,
): Promise<FittedImage> {
  const png = await encodeImage(rgb, width, height, { format: 'png' });
  if (png.length <= maxBytes) return { data: png, format: 'png' };
  for (const quality of WEBP_QUALITIES) {
    const webp = await encodeImage(rgb, width, height, { format: 'webp', quality });
    if (webp.length <= maxBytes) return { data: webp, format: 'webp', quality };
  }
  throw new RangeError(`a ${width}x${height} image does not fit in ${maxBytes} bytes even as WebP quality 30`);
}
