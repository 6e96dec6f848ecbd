import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { writeUpscalerFixtures } from '../src/generator/upscalers/make-upscaler-fixtures.ts';
import { UpscaleThread } from '../src/runtime/upscale-thread.ts';
import { Upscaler } from '../src/upscaling/upscaler.ts';
import { loadImage } from '../src/images/load.ts';

let root: string;
let x4: string;
let x2: string;
let png384: Buffer;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'xcot-upscale-thread-'));
  ({ x4, x2 } = writeUpscalerFixtures(root));
  const px = Buffer.alloc(384 * 384 * 3);
  let s = 11;
  for (let i = 0; i < px.length; i++) px[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 26) + ((i / 3) % 384) / 2;
  png384 = await sharp(px, { raw: { width: 384, height: 384, channels: 3 } }).png().toBuffer();
});

after(() => rmSync(root, { recursive: true, force: true }));

test('the upscale thread turns a 384 px PNG into a 1536 px PNG with the in-process upscaler\'s pixels, while the main thread keeps its timers', async () => {
  const thread = await UpscaleThread.start({ dir: x4, threads: 1 });
  try {
    assert.equal(thread.scale, 4);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = performance.now();
    const progress: number[] = [];
    const result = await thread.upscale(png384, { onProgress: (done) => progress.push(done) });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    const meta = await sharp(result.data).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, result.width, result.height], ['png', 1536, 1536, 1536, 1536]);
    assert.ok(progress.length === result.tiles && progress.at(-1) === result.tiles, `progress ${progress.join(',')} of ${result.tiles}`);
    // The main thread was free: its 20 ms timer fired for most of the run.
    assert.ok(ticks >= (elapsed / 20) * 0.5, `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
    const local = await Upscaler.load(x4, { threads: 1 });
    const expected = await local.upscale(await loadImage(png384));
    await local.release();
    const got = await loadImage(result.data, { maxPixels: 1536 * 1536 });
    assert.ok(Buffer.from(got.data).equals(Buffer.from(expected.image.data)), 'same pixels as in-process');
  } finally {
    await thread.close();
  }
});

test('a cancelled upscale rejects with CancelledError and the thread takes the next one', async () => {
  const thread = await UpscaleThread.start({ dir: x2, threads: 1, memoryBudgetMb: 8 });
  try {
    const controller = new AbortController();
    const pending = thread.upscale(png384, { signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(pending, { name: 'CancelledError' });
    const next = await thread.upscale(png384);
    assert.deepEqual([next.width, next.height], [768, 768]);
  } finally {
    await thread.close();
  }
});

test('a folder without onnx/model.onnx fails the start with one line naming it', async () => {
  unlinkSync(join(x2, 'onnx', 'model.onnx'));
  await assert.rejects(UpscaleThread.start({ dir: x2 }), (err: Error & { code?: string }) => err.code === 'upscaler_invalid' && err.message === `upscaler ${x2}: onnx/model.onnx is missing`);
});
