import sharp, { type OverlayOptions } from 'sharp';

/**
 * A PNG grid: one row per subject, its first photo then the chosen image of each prompt, every
 * cell `cell` pixels square (letterboxed on white), a white gap between cells.
 */
export async function contactSheet(rows: { photo: Uint8Array; results: Uint8Array[] }[], cell = 128, gap = 4): Promise<Buffer> {
  const columns = Math.max(1, ...rows.map((r) => 1 + r.results.length));
  const width = gap + columns * (cell + gap);
  const height = gap + rows.length * (cell + gap);
  const thumb = (bytes: Uint8Array) =>
    sharp(bytes).rotate().resize(cell, cell, { fit: 'contain', background: { r: 255, g: 255, b: 255 } }).removeAlpha().png().toBuffer();
  const composites: OverlayOptions[] = [];
  for (const [y, row] of rows.entries()) {
    for (const [x, image] of [row.photo, ...row.results].entries()) {
      composites.push({ input: await thumb(image), left: gap + x * (cell + gap), top: gap + y * (cell + gap) });
    }
  }
  return sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(composites).png().toBuffer();
}
