import ort from 'onnxruntime-node';
import type { KvArena } from './kv-arena.ts';

/**
 * Row (batch axis) operations on a KV cache: every tensor is [B, kvHeads, T, headDim], float32 or
 * float16 (Uint16Array). Used to cache one prompt row's prefix and to build batches from rows.
 */

/** A model's past keys and values, one tensor per cache input name. */
export type KvCache = Record<string, ort.Tensor>;

type KvData = Float32Array | Uint16Array;

function dataOf(t: ort.Tensor): KvData {
  return t.data as KvData;
}

/** Stacks caches of the same length along the batch axis. */
export function kvStack(parts: KvCache[]): KvCache {
  const out: KvCache = {};
  for (const name of Object.keys(parts[0])) {
    const first = parts[0][name];
    const [, h, len, d] = first.dims as number[];
    const rowsOf = (c: KvCache) => (c[name].dims as number[])[0];
    const total = parts.reduce((n, c) => n + rowsOf(c), 0);
    const data = first.type === 'float16' ? new Uint16Array(total * h * len * d) : new Float32Array(total * h * len * d);
    let at = 0;
    for (const c of parts) {
      const t = c[name];
      if ((t.dims as number[])[2] !== len) throw new RangeError(`kvStack: lengths ${len} and ${(t.dims as number[])[2]} differ`);
      data.set(dataOf(t), at);
      at += dataOf(t).length;
    }
    out[name] = new ort.Tensor(first.type as 'float32', data as Float32Array, [total, h, len, d]);
  }
  return out;
}

/** Bytes held by a cache's tensors. */
export function kvBytes(cache: KvCache): number {
  return Object.values(cache).reduce((n, t) => n + dataOf(t).byteLength, 0);
}

/** One output row of kvGather: row `row` of `cache`. */
export interface KvRowSource {
  cache: KvCache;
  row: number;
}

/** A new cache from rows of caches of the same length, in the given order (repeats allowed). */
export function kvGather(sources: KvRowSource[]): KvCache {
  const out: KvCache = {};
  for (const name of Object.keys(sources[0].cache)) {
    const first = sources[0].cache[name];
    const [, h, len, d] = first.dims as number[];
    const row = h * len * d;
    const data = first.type === 'float16' ? new Uint16Array(sources.length * row) : new Float32Array(sources.length * row);
    sources.forEach((s, i) => {
      const t = s.cache[name];
      if ((t.dims as number[])[2] !== len) throw new RangeError(`kvGather: lengths ${len} and ${(t.dims as number[])[2]} differ`);
      data.set(dataOf(t).subarray(s.row * row, (s.row + 1) * row), i * row);
    });
    out[name] = new ort.Tensor(first.type as 'float32', data as Float32Array, [sources.length, h, len, d]);
  }
  return out;
}

/**
 * [B, h, T, d] past followed by [B, h, L, d] new rows on the sequence axis (what the graph's
 * present would be), written into `arena` when given. An empty past returns `fresh` itself.
 */
export function kvExtend(past: ort.Tensor, fresh: ort.Tensor, name: string, arena?: KvArena): ort.Tensor {
  const [b, h, t, d] = past.dims as number[];
  const l = (fresh.dims as number[])[2];
  if (t === 0) return fresh;
  const total = t + l;
  const kind = past.type === 'float16' ? 'float16' : 'float32';
  const src = dataOf(past);
  const add = dataOf(fresh);
  const size = b * h * total * d;
  const out = arena ? arena.take(name, kind, size, src.buffer) : kind === 'float16' ? new Uint16Array(size) : new Float32Array(size);
  for (let j = 0; j < b * h; j++) {
    out.set(src.subarray(j * t * d, (j + 1) * t * d), j * total * d);
    out.set(add.subarray(j * l * d, (j + 1) * l * d), j * total * d + t * d);
  }
  return new ort.Tensor(kind as 'float32', out as Float32Array, [b, h, total, d]);
}

/** [B, h, L_i, d] tensors joined on the sequence axis, in order. */
export function kvConcatColumns(parts: ort.Tensor[]): ort.Tensor {
  if (parts.length === 1) return parts[0];
  const [b, h, , d] = parts[0].dims as number[];
  const lengths = parts.map((t) => (t.dims as number[])[2]);
  const total = lengths.reduce((a, n) => a + n, 0);
  const kind = parts[0].type === 'float16' ? 'float16' : 'float32';
  const out = kind === 'float16' ? new Uint16Array(b * h * total * d) : new Float32Array(b * h * total * d);
  for (let j = 0; j < b * h; j++) {
    let at = j * total * d;
    parts.forEach((t, k) => {
      const n = lengths[k] * d;
      out.set(dataOf(t).subarray(j * n, (j + 1) * n), at);
      at += n;
    });
  }
  return new ort.Tensor(kind as 'float32', out as Float32Array, [b, h, total, d]);
}
