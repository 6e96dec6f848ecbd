/** Unit-length copy (a zero vector stays zero). Accumulates in float64. */
export function normalize(v: ArrayLike<number>): Float64Array {
  let sq = 0;
  for (let i = 0; i < v.length; i++) sq += v[i] * v[i];
  const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] * inv;
  return out;
}

/** Dot product of two unit vectors: their cosine similarity. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`vectors differ in length: ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('mean of nothing');
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Row i of a [rows, width] row-major buffer, or the row-th block's first `width` values (a CLS token). */
export function rows(data: Float32Array, count: number, stride: number, width = stride): Float32Array[] {
  return Array.from({ length: count }, (_, i) => data.subarray(i * stride, i * stride + width));
}
