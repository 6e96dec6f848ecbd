/**
 * Two reusable buffers per KV tensor name for a decode loop: each step writes the grown cache
 * into the buffer the previous step's cache is not in. Fresh multi-hundred-MB buffers every step
 * would cost page faults and zeroing on top of the copy. One arena belongs to one loop: the cache
 * from two steps ago is overwritten, so nothing else may keep a cache that came from it.
 */
export class KvArena {
  private readonly buffers = new Map<string, [ArrayBuffer | null, ArrayBuffer | null]>();

  /** A view of `elements` elements for `name`, in a buffer other than `avoid`. */
  take<T extends Float32Array | Uint16Array>(name: string, kind: 'float32' | 'float16', elements: number, avoid: ArrayBufferLike): T {
    const bytesPer = kind === 'float16' ? 2 : 4;
    const pair = this.buffers.get(name) ?? [null, null];
    this.buffers.set(name, pair);
    const slot = pair[0] === avoid ? 1 : 0;
    let buffer = pair[slot];
    if (!buffer || buffer.byteLength < elements * bytesPer) {
      // Room to grow for a while (one column per step) before the next allocation.
      buffer = new ArrayBuffer(Math.ceil(elements * 1.25 + 4096) * bytesPer);
      pair[slot] = buffer;
    }
    return (kind === 'float16' ? new Uint16Array(buffer, 0, elements) : new Float32Array(buffer, 0, elements)) as T;
  }
}
