import { createHash } from 'node:crypto';
import type { PixelBatch } from '../model/janus-model.ts';

const memo = new WeakMap<Float32Array, string[]>();

/**
 * A content key per image of a batch (sha256 of its preprocessed pixels): the same photo gets the
 * same key whichever request, subject or position it comes in. Memoized per pixel buffer, which
 * is never modified once prepared.
 */
export function imageKeys(images: PixelBatch): string[] {
  const known = memo.get(images.data);
  if (known) return known;
  const per = images.data.length / images.count;
  const keys = Array.from({ length: images.count }, (_, i) => {
    const slice = images.data.subarray(i * per, (i + 1) * per);
    return createHash('sha256').update(new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength)).digest('base64url');
  });
  memo.set(images.data, keys);
  return keys;
}
