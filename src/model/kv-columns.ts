/**
 * The host-side bookkeeping a capacity KV cache keeps beside its buffers, wherever they live
 * (KvCapacity on the host, DeviceKvCapacity on the WebGPU device): `history` is the [rows, capacity]
 * attention mask of each row's columns in use, `lengths` how many columns each row uses.
 */

/** Columns for `longest` in use plus `headroom` more, rounded up to a multiple of `quantum`. */
export function capacityFor(longest: number, headroom: number, quantum: number): number {
  return Math.ceil((longest + headroom) / quantum) * quantum;
}

/** The mask for one new position: each row's history, then 1 for the new position. */
export function stepMask(history: BigInt64Array, rows: number, capacity: number): BigInt64Array {
  const width = capacity + 1;
  const out = new BigInt64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    out.set(history.subarray(r * capacity, (r + 1) * capacity), r * width);
    out[r * width + capacity] = 1n;
  }
  return out;
}

/** Notes one new attended column per row, written at each row's next column. */
export function markAppended(history: BigInt64Array, lengths: number[], capacity: number): void {
  for (let r = 0; r < lengths.length; r++) {
    history[r * capacity + lengths[r]] = 1n;
    lengths[r]++;
  }
}
