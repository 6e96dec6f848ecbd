import { reencodeToFit, type OutputFormat } from './encode.ts';
import { loadImage } from './load.ts';

/** What Discord takes in all per message, whatever one file's limit (25 MiB). */
export const MESSAGE_UPLOAD_LIMIT = 25 * 2 ** 20;

/** An encoded image as made: its bytes, format and size (WebP: the quality it was encoded at). */
export interface EncodedImage {
  data: Uint8Array;
  format: OutputFormat;
  width: number;
  height: number;
  quality?: number;
}

/**
 * A message's images fitted to an upload limit (`sizeLimit` each, 25 MiB in all): one over it is
 * encoded again smaller (PNG, else WebP at falling quality; encode.ts reencodeToFit), never dropped.
 * An image already within the limit is kept as it is, byte for byte.
 */
export async function fitToUploadLimit<T extends EncodedImage>(images: readonly T[], sizeLimit: number): Promise<T[]> {
  const fitted: T[] = [];
  let budget = Math.min(MESSAGE_UPLOAD_LIMIT, sizeLimit * images.length);
  for (const [i, img] of images.entries()) {
    let out = img;
    if (img.data.byteLength > sizeLimit) {
      const rgb = await loadImage(img.data, { maxBytes: Number.MAX_SAFE_INTEGER, maxPixels: img.width * img.height });
      const smaller = await reencodeToFit(rgb.data, rgb.width, rgb.height, Math.min(sizeLimit, budget / (images.length - i)));
      const { quality: _, ...rest } = img;
      out = { ...rest, data: smaller.data, format: smaller.format, ...(smaller.quality ? { quality: smaller.quality } : {}) } as unknown as T;
    }
    budget -= out.data.byteLength;
    fitted.push(out);
  }
  return fitted;
}

/** How a fitted image was sent, for a line to the user ("WebP quality 80"). */
export function encodingLabel(image: Pick<EncodedImage, 'format' | 'quality'>): string {
  return `${image.format === 'webp' ? 'WebP' : image.format.toUpperCase()}${image.quality ? ` quality ${image.quality}` : ''}`;
}
