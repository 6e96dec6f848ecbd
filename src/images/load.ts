import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { ImageInputError, displayName } from './errors.ts';
import { type ImageLimits, formatBytes, resolveLimits, checkImageCount } from './limits.ts';
import { type ImageFormat, type SniffedFormat, isAccepted, sniffFormat } from './sniff.ts';

/** An upright 8-bit RGB image, row-major HWC (length width * height * 3). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DecodedImage extends RgbImage {
  format: ImageFormat;
}

export interface ImageHeader {
  format: ImageFormat;
  /** As stored, before EXIF orientation is applied. */
  width: number;
  height: number;
  /** Channels in the file (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA or CMYK). */
  channels: number;
}

export interface LoadOptions extends Partial<ImageLimits> {
  /** File name used in error messages. */
  name?: string;
}

const EXPECTED = 'PNG, JPEG, WebP, GIF or AVIF expected';

// sharp reports AVIF as its container format.
const SHARP_FORMAT: Record<ImageFormat, string> = { png: 'png', jpeg: 'jpeg', gif: 'gif', webp: 'webp', avif: 'heif' };

/**
 * Checks size, format and pixel count from the header alone; nothing is decoded.
 * Throws ImageInputError.
 */
export async function readHeader(bytes: Uint8Array, options: LoadOptions = {}): Promise<ImageHeader> {
  const name = displayName(options.name);
  const limits = resolveLimits(options);
  if (bytes.length === 0) throw new ImageInputError('empty', `${name} is empty`);
  if (bytes.length > limits.maxBytes) {
    throw new ImageInputError(
      'too_large',
      `${name} is too large (${formatBytes(bytes.length)}; the limit is ${formatBytes(limits.maxBytes)})`,
    );
  }

  const sniffed = sniffFormat(bytes);
  if (!isAccepted(sniffed)) throw new ImageInputError('unsupported_format', unsupportedMessage(name, sniffed));

  let meta: Metadata;
  try {
    // Header only; the pixel limit is enforced below so it gets its own error code.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw corrupt(name);
  }
  if (meta.format !== SHARP_FORMAT[sniffed] || (sniffed === 'avif' && meta.compression !== 'av1')) {
    throw corrupt(name);
  }
  const width = meta.width ?? 0;
  // For animations only the first frame is decoded.
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw corrupt(name);
  if (width * height > limits.maxPixels) {
    throw new ImageInputError(
      'pixel_limit',
      `${name} is too big (${width}×${height} pixels; the limit is ${+(limits.maxPixels / 1e6).toFixed(1)} megapixels)`,
    );
  }
  return { format: sniffed, width, height, channels: meta.channels ?? 3 };
}

/**
 * Validates and decodes one image to upright RGB. Throws ImageInputError.
 *
 * Pixels are meant to equal what transformers.js's RawImage.read(...).rgb() produces, which in Node is
 * `sharp(bytes).rotate().raw()` followed by its own channel conversion; see toRgb.
 */
export async function loadImage(bytes: Uint8Array, options: LoadOptions = {}): Promise<DecodedImage> {
  const header = await readHeader(bytes, options);
  const { maxPixels } = resolveLimits(options);
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels again so that a header that lies to metadata() is still never decoded in full.
    decoded = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels })
      .rotate()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (err instanceof Error && /pixel limit/i.test(err.message)) {
      throw new ImageInputError('pixel_limit', `${displayName(options.name)} has too many pixels`);
    }
    throw corrupt(displayName(options.name));
  }
  const { width, height, channels } = decoded.info;
  return { format: header.format, width, height, data: toRgb(decoded.data, channels, header.channels) };
}

/** Checks the count first, then loads one at a time so at most one full-size decode is in memory. */
export async function loadImages(
  inputs: readonly { bytes: Uint8Array; name?: string }[],
  limits: Partial<ImageLimits> = {},
): Promise<DecodedImage[]> {
  checkImageCount(inputs.length, limits);
  const images: DecodedImage[] = [];
  for (const input of inputs) images.push(await loadImage(input.bytes, { ...limits, name: input.name }));
  return images;
}

/**
 * Reduces sharp's raw output to 3 channels the way transformers.js's RawImage does.
 *
 * Alpha is DROPPED, not composited: transformers.js's RawImage.rgb() keeps R,G,B of RGBA as they are,
 * like PIL's Image.convert('RGB') in the Janus reference, so fully transparent pixels keep whatever
 * colour they store. Compositing onto the pad colour would look nicer but break parity.
 */
export function toRgb(data: Uint8Array, channels: number, sourceChannels?: number): Uint8Array {
  const pixels = data.length / channels;
  const out = new Uint8Array(pixels * 3);
  // sharp emits sRGB for greyscale sources; transformers.js turns that back into one channel with these
  // luma weights and rounding before replicating it, so do the same.
  const grey = sourceChannels === 1 && channels >= 3;
  for (let i = 0, s = 0, o = 0; i < pixels; i++, s += channels, o += 3) {
    if (grey || channels <= 2) {
      const v = grey ? Math.round(0.2989 * data[s] + 0.587 * data[s + 1] + 0.114 * data[s + 2]) : data[s];
      out[o] = out[o + 1] = out[o + 2] = v;
    } else {
      out[o] = data[s];
      out[o + 1] = data[s + 1];
      out[o + 2] = data[s + 2];
    }
  }
  return out;
}

function corrupt(name: string): ImageInputError {
  return new ImageInputError('corrupt', `${name} looks damaged or incomplete and could not be read`);
}

const KNOWN_UNSUPPORTED: Partial<Record<SniffedFormat, string>> = {
  svg: 'an SVG',
  tiff: 'a TIFF',
  bmp: 'a BMP',
  heic: 'a HEIC',
};

function unsupportedMessage(name: string, sniffed: SniffedFormat | undefined): string {
  const kind = sniffed && KNOWN_UNSUPPORTED[sniffed];
  if (!kind) return `${name} is not an image (${EXPECTED})`;
  return `${name} is ${kind} image, which is not supported (${EXPECTED})`;
}
