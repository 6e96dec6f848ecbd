/**
 * 4-bit block quantization in the layout of ONNX Runtime's com.microsoft MatMulNBits (what the
 * public exports' `_q4` graphs use): for each output column n and each block of `blockSize` rows,
 * one float scale and blockSize 4-bit codes packed two per byte (low nibble first), zero point 8.
 */
export interface Q4Weight {
  /** uint8 [N, kBlocks, blockSize / 2] */
  packed: Uint8Array;
  /** float [N * kBlocks] */
  scales: Float32Array;
  kBlocks: number;
}

/** `w` is a MatMul weight [K, N] (row-major, x @ w). */
export function quantizeQ4(w: Float32Array, K: number, N: number, blockSize = 32): Q4Weight {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < kBlocks; kb++) {
      let max = 0;
      for (let i = 0; i < blockSize; i++) {
        const k = kb * blockSize + i;
        if (k < K) max = Math.max(max, Math.abs(w[k * N + n]));
      }
      const scale = max > 0 ? max / 7 : 1;
      scales[n * kBlocks + kb] = scale;
      const base = (n * kBlocks + kb) * blob;
      for (let i = 0; i < blockSize; i++) {
        const k = kb * blockSize + i;
        const q = k < K ? Math.max(0, Math.min(15, Math.round(w[k * N + n] / scale) + 8)) : 8;
        packed[base + (i >> 1)] |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { packed, scales, kBlocks };
}
