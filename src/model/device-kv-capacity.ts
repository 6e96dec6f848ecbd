import type ort from 'onnxruntime-node';
import type { KvCache } from './janus-model.ts';
import type { DeviceKvOps } from './device-kv-ops.ts';
import type { DeviceTensor } from './device-tensor.ts';
import { capacityFor, markAppended, stepMask } from './kv-columns.ts';

/**
 * KvCapacity with its buffers on the WebGPU device: the same layout (every tensor [rows, kvHeads,
 * capacity, D], each row's own columns first, the rest zero and masked, capacity a multiple of
 * `quantum`), the same row bookkeeping on the host (lengths and masks), and each change made by the
 * small device graphs of DeviceKvOps, so the decoder sees exactly the numbers the host cache would
 * give it and the cache never crosses to the host. Buffers it replaces are disposed at once;
 * dispose() frees the rest.
 */
export class DeviceKvCapacity {
  #buffers: DeviceTensor[] | null;

  private constructor(
    private readonly ops: DeviceKvOps,
    private readonly names: string[],
    readonly capacity: number,
    buffers: DeviceTensor[],
    readonly lengths: number[],
    private readonly history: BigInt64Array,
  ) {
    this.#buffers = buffers;
  }

  get rows(): number {
    return this.lengths.length;
  }

  /** Rows of a host cache ([B, h, T, d], every column in use) with their [B, T] mask, uploaded once. */
  static async fromCache(ops: DeviceKvOps, cache: KvCache, mask: BigInt64Array, rows: number[], quantum: number, headroom: number): Promise<DeviceKvCapacity> {
    const names = Object.keys(cache);
    const t = (cache[names[0]].dims as number[])[2];
    const capacity = capacityFor(t, headroom, quantum);
    const buffers = await ops.rows(names.map((n) => cache[n] as ort.Tensor), rows, t, capacity);
    const history = new BigInt64Array(rows.length * capacity);
    rows.forEach((row, i) => history.set(mask.subarray(row * t, (row + 1) * t), i * capacity));
    return new DeviceKvCapacity(ops, names, capacity, buffers, rows.map(() => t), history);
  }

  /** The given rows of each part (all when not given), in order, with room for `headroom` more columns. */
  static async concat(parts: { kv: DeviceKvCapacity; rows?: number[] }[], quantum: number, headroom: number): Promise<DeviceKvCapacity> {
    const head = parts[0].kv;
    const picks = parts.map(({ kv, rows }) => ({ kv, rows: rows ?? kv.lengths.map((_, i) => i) }));
    const lengths = picks.flatMap(({ kv, rows }) => rows.map((r) => kv.lengths[r]));
    const capacity = capacityFor(Math.max(...lengths), headroom, quantum);
    let joined: DeviceTensor[] | null = null;
    try {
      for (const { kv, rows } of picks) {
        const part = await head.ops.rows(kv.buffers, rows, Math.min(kv.capacity, capacity), capacity);
        if (!joined) joined = part;
        else {
          const both: DeviceTensor[] = await head.ops.join(joined, part).finally(() => {
            for (const x of [...joined!, ...part]) x.dispose();
          });
          joined = both;
        }
      }
    } catch (err) {
      for (const x of joined ?? []) x.dispose();
      throw err;
    }
    const history = new BigInt64Array(lengths.length * capacity);
    let i = 0;
    for (const { kv, rows } of picks) {
      for (const r of rows) history.set(kv.history.subarray(r * kv.capacity, r * kv.capacity + kv.lengths[r]), i++ * capacity);
    }
    return new DeviceKvCapacity(head.ops, head.names, capacity, joined!, lengths, history);
  }

  get hasRoom(): boolean {
    return this.lengths.every((n) => n < this.capacity);
  }

  /** The cache as the decoder's past, [rows, h, capacity, d] device tensors by past_key_values name. */
  past(): Record<string, DeviceTensor> {
    const buffers = this.buffers;
    return Object.fromEntries(this.names.map((n, i) => [n, buffers[i]]));
  }

  /** The mask for one new position: each row's history, then 1 for the new position. */
  stepMask(): BigInt64Array {
    return stepMask(this.history, this.rows, this.capacity);
  }

  /** Writes one new attended position per row ([rows, h, 1, d] device tensors by name) into each row's next column; disposes `fresh`. */
  async push(fresh: Record<string, DeviceTensor>): Promise<void> {
    const old = this.buffers;
    const add = this.names.map((n) => fresh[n]);
    try {
      this.#buffers = await this.ops.write(old, add, this.lengths, this.capacity);
    } finally {
      for (const t of add) t.dispose();
    }
    for (const t of old) t.dispose();
    markAppended(this.history, this.lengths, this.capacity);
  }

  /** Frees the device buffers (idempotent). */
  dispose(): void {
    for (const t of this.#buffers ?? []) t.dispose();
    this.#buffers = null;
  }

  private get buffers(): DeviceTensor[] {
    if (!this.#buffers) throw new Error('device KV cache used after dispose');
    return this.#buffers;
  }
}
