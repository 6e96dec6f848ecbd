import { ImageInputError } from './errors.ts';

export interface ImageLimits {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
  /** Largest accepted width * height, read from the header before decoding. */
  maxPixels: number;
  /** Most images accepted in one request. */
  maxImages: number;
}

export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxImages: 4,
});

export function resolveLimits(limits: Partial<ImageLimits> = {}): ImageLimits {
  const merged = { ...DEFAULT_IMAGE_LIMITS };
  for (const key of Object.keys(merged) as (keyof ImageLimits)[]) {
    const value = limits[key];
    if (value !== undefined) {
      if (!Number.isInteger(value) || value <= 0) throw new RangeError(`image limit ${key} must be a positive integer`);
      merged[key] = value;
    }
  }
  return merged;
}

export function checkImageCount(count: number, limits: Partial<ImageLimits> = {}): void {
  const { maxImages } = resolveLimits(limits);
  if (count > maxImages) {
    throw new ImageInputError('too_many', `Too many images (${count}); at most ${maxImages} can be used at once`);
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
