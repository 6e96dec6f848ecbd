/**
 * Tiling an image that would not fit the memory budget in one run. Tiles are squares of `tile`
 * input pixels on the model's window grid (multiples of `align`), overlapping by `overlap`; the last
 * tile of a row or column ends at the image's edge (so it may overlap more).
 *
 * Seams: where two tiles overlap, the outer quarter of the overlap on each tile's inner side is
 * dropped (those pixels saw the least context), and across the middle half each tile's weight
 * ramps linearly from 0 to 1, so the two weights sum to 1 there. Weights are separable (row weight
 * times column weight) and the sum is normalized per pixel. Image borders get full weight.
 */

export interface TileSpan {
  /** First input pixel along the axis. */
  start: number;
  size: number;
}

/** Tiles along one axis of `length` pixels. */
export function tileSpans(length: number, tile: number, overlap: number): TileSpan[] {
  if (length <= tile) return [{ start: 0, size: length }];
  const stride = tile - overlap;
  if (stride <= 0) throw new RangeError(`tile ${tile} must be larger than overlap ${overlap}`);
  const spans: TileSpan[] = [];
  for (let start = 0; ; start += stride) {
    if (start + tile >= length) {
      spans.push({ start: length - tile, size: tile });
      break;
    }
    spans.push({ start, size: tile });
  }
  return spans;
}

/**
 * A tile's blend weight at `offset` output pixels into its span of `size` output pixels, `ramp` being
 * the overlap in output pixels; `atStart` / `atEnd` say the span touches the image's edge there.
 */
export function blendWeight(offset: number, size: number, ramp: number, atStart: boolean, atEnd: boolean): number {
  let w = 1;
  if (!atStart) w = Math.min(w, edgeWeight(offset + 0.5, ramp));
  if (!atEnd) w = Math.min(w, edgeWeight(size - offset - 0.5, ramp));
  return w;
}

function edgeWeight(distance: number, ramp: number): number {
  if (ramp <= 0) return 1;
  return Math.min(1, Math.max(0, (distance - ramp / 4) / (ramp / 2)));
}

/**
 * The largest tile (a multiple of `align`, at least `minTile`) whose run fits `budgetBytes` given the
 * model's bytes per input pixel.
 */
export function tileForBudget(budgetBytes: number, bytesPerPixel: number, align: number, minTile: number): number {
  const side = Math.floor(Math.sqrt(budgetBytes / bytesPerPixel) / align) * align;
  return Math.max(minTile, side);
}
