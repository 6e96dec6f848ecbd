import ort from 'onnxruntime-node';
import type { KvCache } from './kv-rows.ts';
import { capacityFor, markAppended, stepMask } from './kv-columns.ts';

type KvData = Float32Array | Uint16Array;

/** Row `row` of a source: its first `length` columns of each [h, capacity, d] block, and its mask. */
interface RowRef {
  data: (name: string) => KvData;
  row: number;
  capacity: number;
  length: number;
  mask: BigInt64Array;
}

/**
 * A KV cache for a batch of decode rows, in place: every tensor is [rows, kvHeads, capacity, D],
 * each row's own columns at the front (`lengths[r]` of them, its mask in `history`), the rest
 * unused and masked. The decoder sees all `capacity` columns, its new position appended after
 * them, and the new rows are then written into each row's next column: no copy of the cache per
 * step, and rows of different lengths need no padding.
 *
 * What a row computes must not depend on the capacity, or a job would not draw the same image
 * alone and batched. Unused columns add exact zeros, but the CPU kernels sum in vector lanes and
 * blocks: measured at Janus-Pro-1B's size (ONNX Runtime 1.30, this project's 2-core AVX-512
 * machine), capacities 320, 336, 384 and 512 gave bit-identical hidden states for a 300-column row,
 * 321 and 333 did not. So the capacity is always a multiple of `quantum` (16).
 */
export class KvCapacity {
  private constructor(
    private readonly names: string[],
    private readonly kind: 'float32' | 'float16',
    private readonly heads: number,
    private readonly headDim: number,
    readonly capacity: number,
    private readonly buffers: Map<string, KvData>,
    /** Columns in use per row. */
    readonly lengths: number[],
    /** [rows, capacity] attention mask of the columns in use (0 beyond them). */
    private readonly history: BigInt64Array,
  ) {}

  get rows(): number {
    return this.lengths.length;
  }

  /**
   * Rows of a plain cache ([B, h, T, d], every column in use) with their [B, T] mask; `rows` says
   * which source row goes where (a row may repeat). Room for `headroom` more columns.
   */
  static fromCache(cache: KvCache, mask: BigInt64Array, rows: number[], quantum: number, headroom: number): KvCapacity {
    const first = Object.values(cache)[0];
    const [, h, t, d] = first.dims as number[];
    const refs = rows.map((row) => ({ data: (name: string) => cache[name].data as KvData, row, capacity: t, length: t, mask: mask.subarray(row * t, (row + 1) * t) }));
    const kind = first.type === 'float16' ? 'float16' : 'float32';
    return KvCapacity.gather(Object.keys(cache), { kind, h, d }, refs, quantum, headroom);
  }

  /** The given rows of each part (all rows when not given), in order, with room for `headroom` more columns. */
  static concat(parts: { kv: KvCapacity; rows?: number[] }[], quantum: number, headroom: number): KvCapacity {
    const head = parts[0].kv;
    const refs: RowRef[] = [];
    for (const { kv, rows } of parts) {
      for (const r of rows ?? kv.lengths.map((_, i) => i)) refs.push(kv.ref(r));
    }
    return KvCapacity.gather(head.names, { kind: head.kind, h: head.heads, d: head.headDim }, refs, quantum, headroom);
  }

  private static gather(names: string[], layout: { kind: 'float32' | 'float16'; h: number; d: number }, refs: RowRef[], quantum: number, headroom: number): KvCapacity {
    const { kind, h, d } = layout;
    const longest = Math.max(...refs.map((r) => r.length));
    const capacity = capacityFor(longest, headroom, quantum);
    const buffers = new Map<string, KvData>();
    for (const name of names) {
      const out = kind === 'float16' ? new Uint16Array(refs.length * h * capacity * d) : new Float32Array(refs.length * h * capacity * d);
      refs.forEach((ref, i) => {
        const src = ref.data(name);
        for (let head = 0; head < h; head++) {
          const from = (ref.row * h + head) * ref.capacity * d;
          out.set(src.subarray(from, from + ref.length * d), (i * h + head) * capacity * d);
        }
      });
      buffers.set(name, out);
    }
    const history = new BigInt64Array(refs.length * capacity);
    refs.forEach((ref, i) => history.set(ref.mask.subarray(0, ref.length), i * capacity));
    return new KvCapacity(names, kind, h, d, capacity, buffers, refs.map((r) => r.length), history);
  }

  private ref(row: number): RowRef {
    return {
      data: (name) => this.buffers.get(name)!,
      row,
      capacity: this.capacity,
      length: this.lengths[row],
      mask: this.history.subarray(row * this.capacity, (row + 1) * this.capacity),
    };
  }

  /** Whether every row has a free column for the next position. */
  get hasRoom(): boolean {
    return this.lengths.every((n) => n < this.capacity);
  }

  /** The cache as the decoder's past: views of the buffers, [rows, h, capacity, d]. */
  past(): KvCache {
    const out: KvCache = {};
    for (const [name, data] of this.buffers) out[name] = new ort.Tensor(this.kind as 'float32', data as Float32Array, [this.rows, this.heads, this.capacity, this.headDim]);
    return out;
  }

  /** The mask for one new position: each row's history, then 1 for the new position. */
  stepMask(): BigInt64Array {
    return stepMask(this.history, this.rows, this.capacity);
  }

  /** Writes one new attended position per row ([rows, h, 1, d] per name) into each row's next column. */
  push(fresh: KvCache): void {
    const { heads: h, headDim: d, capacity } = this;
    for (const [name, data] of this.buffers) {
      const add = fresh[name].data as KvData;
      for (let r = 0; r < this.rows; r++) {
        for (let head = 0; head < h; head++) {
          data.set(add.subarray((r * h + head) * d, (r * h + head + 1) * d), ((r * h + head) * capacity + this.lengths[r]) * d);
        }
      }
    }
    markAppended(this.history, this.lengths, this.capacity);
  }
}
