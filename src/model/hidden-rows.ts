import ort from 'onnxruntime-node';

/** Row operations on float32 [R, L, H] tensors (embeddings, hidden states) along the batch axis. */

/** Rows `rows` of `t`, in that order (repeats allowed). */
export function pickRows(t: ort.Tensor, rows: number[]): ort.Tensor {
  const [, len, hidden] = t.dims as number[];
  const size = len * hidden;
  const data = t.data as Float32Array;
  const out = new Float32Array(rows.length * size);
  rows.forEach((r, i) => out.set(data.subarray(r * size, (r + 1) * size), i * size));
  return new ort.Tensor('float32', out, [rows.length, len, hidden]);
}

/** The parts' rows one after another (parts of the same length and width). */
export function stackRows(parts: ort.Tensor[]): ort.Tensor {
  if (parts.length === 1) return parts[0];
  const [, len, hidden] = parts[0].dims as number[];
  const rows = parts.reduce((n, p) => n + (p.dims as number[])[0], 0);
  const out = new Float32Array(rows * len * hidden);
  let at = 0;
  for (const p of parts) {
    out.set(p.data as Float32Array, at);
    at += (p.data as Float32Array).length;
  }
  return new ort.Tensor('float32', out, [rows, len, hidden]);
}
