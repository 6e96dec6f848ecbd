import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, cpSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RawImage, env, pipeline } from '@huggingface/transformers';
import onnxProto from 'onnx-proto';
import { writeUpscalerFixtures } from '../src/generator/upscalers/make-upscaler-fixtures.ts';
import type { RgbImage } from '../src/images/load.ts';
import { paddedSize, toPixelValues } from '../src/upscaling/swin2sr-processor.ts';
import { blendWeight, tileSpans } from '../src/upscaling/tiles.ts';
import { Upscaler } from '../src/upscaling/upscaler.ts';
import { readUpscalerFolder } from '../src/upscaling/upscaler-folder.ts';

// Our upscaler against transformers.js' image-to-image pipeline on the same random-weight folders
// in the Xenova Swin2SR layout.

let root: string;
let x4: string;
let x2: string;

/** A textured RGB image (gradients plus noise), the same every run. */
function texture(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        data[(y * width + x) * 3 + c] = Math.min(255, ((x * (c + 1) * 5 + y * 3) % 200) + (s >>> 26));
      }
    }
  }
  return { data, width, height };
}

/** transformers.js' output for the same pixels, cropped to the unpadded image's share (its pipeline keeps the padding). */
async function reference(dir: string, image: RgbImage, scale: number): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const upscaler = await pipeline('image-to-image', dir, { dtype: 'fp32', device: 'cpu', local_files_only: true, session_options: { intraOpNumThreads: 1 } });
  try {
    const out = (await upscaler(new RawImage(new Uint8ClampedArray(image.data), image.width, image.height, 3))) as RawImage;
    const width = image.width * scale;
    const height = image.height * scale;
    const pixels = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) pixels.set(out.data.subarray(y * out.width * 3, (y * out.width + width) * 3), y * width * 3);
    return { pixels, width: out.width, height: out.height };
  } finally {
    await upscaler.dispose();
  }
}

function diffStats(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

/** The fixture must not be a flat or clamped image, or parity would prove nothing. */
function assertInformative(pixels: Uint8Array): void {
  const distinct = new Set(pixels).size;
  const clamped = pixels.filter((v) => v === 0 || v === 255).length / pixels.length;
  assert.ok(distinct > 40, `only ${distinct} distinct values`);
  assert.ok(clamped < 0.05, `${(clamped * 100).toFixed(1)}% of values clamped`);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'xcot-upscalers-'));
  ({ x4, x2 } = writeUpscalerFixtures(root));
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${root}/`;
});

after(() => rmSync(root, { recursive: true, force: true }));

describe('upscaler fixtures in the Xenova Swin2SR layout', () => {
  test('both folders hold config.json, preprocessor_config.json, quantize_config.json and onnx/model.onnx with the public keys and values', () => {
    for (const [dir, scale, upsampler] of [[x4, 4, 'nearest+conv'], [x2, 2, 'pixelshuffledirect']] as const) {
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.equal(config.model_type, 'swin2sr');
      assert.deepEqual(config.architectures, ['Swin2SRForImageSuperResolution']);
      assert.equal(config.upscale, scale);
      assert.equal(config.upsampler, upsampler);
      assert.equal(config.window_size, 8);
      const processor = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8'));
      assert.deepEqual(processor, { do_pad: true, do_rescale: true, image_processor_type: 'Swin2SRImageProcessor', pad_size: 8, rescale_factor: 0.00392156862745098 });
      JSON.parse(readFileSync(join(dir, 'quantize_config.json'), 'utf8'));
    }
  });

  test('onnx/model.onnx maps pixel_values [batch_size, num_channels, height, width] to reconstruction with the same dynamic axes', () => {
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(join(x4, 'onnx', 'model.onnx')));
    const dims = (v: onnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    assert.deepEqual(model.graph!.input!.map((i) => [i.name, dims(i)]), [['pixel_values', ['batch_size', 'num_channels', 'height', 'width']]]);
    assert.deepEqual(model.graph!.output!.map((o) => [o.name, dims(o)]), [['reconstruction', ['batch_size', 'num_channels', 'height', 'width']]]);
  });
});

describe('the upscaler against transformers.js image-to-image', () => {
  for (const [name, width, height] of [['x4', 37, 23], ['x4', 24, 16], ['x2', 45, 19]] as const) {
    test(`${name}: a ${width} x ${height} image gives transformers.js' pixels within 1 of 255, the padding's share cropped away`, async () => {
      const dir = name === 'x4' ? x4 : x2;
      const image = texture(width, height, width * 7 + height);
      const upscaler = await Upscaler.load(dir, { threads: 1 });
      try {
        const ours = await upscaler.upscale(image);
        const scale = upscaler.scale;
        assert.equal(ours.image.width, width * scale);
        assert.equal(ours.image.height, height * scale);
        assert.equal(ours.tiles, 1);
        const ref = await reference(dir, image, scale);
        // transformers.js returns the padded image's reconstruction: that is what it pads to.
        assert.deepEqual([ref.width, ref.height], [paddedSize(width, 8) * scale, paddedSize(height, 8) * scale]);
        assertInformative(ours.image.data);
        const d = diffStats(ours.image.data, ref.pixels);
        assert.ok(d.max <= 1, `max difference ${d.max}/255 (mean ${d.mean.toFixed(4)})`);
      } finally {
        await upscaler.release();
      }
    });
  }

  test('padding mirrors the last rows and columns without repeating the edge (transformers.js symmetric mode) and rescales by 1/255', () => {
    const image = { data: Uint8Array.from({ length: 3 * 3 * 2 }, (_, i) => i * 10), width: 3, height: 2 };
    const planes = toPixelValues(image, { processor: { doPad: true, padSize: 4, doRescale: true, rescaleFactor: 1 / 255 } });
    assert.deepEqual([planes.width, planes.height], [4, 4]);
    const red = Array.from(planes.data.subarray(0, 16), (v) => Math.round(v * 255));
    // Rows 0, 1, then 0 (row 2 mirrors row 0 about row 1), then row 1 again; column 3 mirrors column 1.
    assert.deepEqual(red, [0, 30, 60, 30, 90, 120, 150, 120, 0, 30, 60, 30, 90, 120, 150, 120]);
  });
});

describe('tiling', () => {
  test('tile spans cover the axis on the window grid, the last one ending at the edge, and blend weights sum to 1 across an overlap', () => {
    const spans = tileSpans(120, 48, 16);
    assert.deepEqual(spans, [{ start: 0, size: 48 }, { start: 32, size: 48 }, { start: 64, size: 48 }, { start: 72, size: 48 }]);
    // Across the 16 px overlap of the first two tiles (x4: 64 output px) the weights sum to 1.
    for (let p = 32 * 4; p < 48 * 4; p++) {
      const sum = blendWeight(p, 192, 64, true, false) + blendWeight(p - 128, 192, 64, false, false);
      assert.ok(Math.abs(sum - 1) < 1e-6, `at ${p}: ${sum}`);
    }
  });

  test('a tiled x4 upscale of a 100 x 76 image equals the untiled one within 2/255 (mean under 0.1/255)', async () => {
    const image = texture(100, 76, 5);
    const upscaler = await Upscaler.load(x4, { threads: 1, overlap: 32 });
    try {
      const whole = await upscaler.upscale(image);
      const tiled = await upscaler.upscale(image, { tile: 56 });
      assert.equal(whole.tiles, 1);
      assert.ok(tiled.tiles >= 4, `${tiled.tiles} tiles`);
      const d = diffStats(whole.image.data, tiled.image.data);
      assert.ok(d.max <= 2 && d.mean < 0.1, `max ${d.max}/255, mean ${d.mean.toFixed(4)}/255`);
    } finally {
      await upscaler.release();
    }
  });

  test('a memory budget smaller than one run tiles the image, and progress counts every tile', async () => {
    const image = texture(96, 96, 9);
    const upscaler = await Upscaler.load(x4, { threads: 1, memoryBudgetMb: 96 * 96 * 0.5 / 2 ** 20 * 4 * 100 });
    try {
      const plan = upscaler.tilePlan(96, 96);
      const seen: number[] = [];
      const run = await upscaler.upscale(image, { onTile: (p) => seen.push(p.tile) });
      assert.ok(plan && run.tiles === plan.ys.length * plan.xs.length && run.tiles > 1, `plan ${JSON.stringify(plan)}, ${run.tiles} tiles`);
      assert.deepEqual(seen, Array.from({ length: run.tiles }, (_, i) => i + 1));
    } finally {
      await upscaler.release();
    }
  });
});

describe('bad upscaler folders', () => {
  const broken = (change: (dir: string) => void) => {
    const dir = join(root, `broken-${Math.random().toString(36).slice(2)}`);
    cpSync(x2, dir, { recursive: true });
    change(dir);
    return dir;
  };

  test('a missing preprocessor_config.json, onnx/model.onnx or folder is named in one line', () => {
    const noProcessor = broken((d) => unlinkSync(join(d, 'preprocessor_config.json')));
    assert.throws(() => readUpscalerFolder(noProcessor), { code: 'upscaler_invalid', message: `upscaler ${noProcessor}: preprocessor_config.json is missing` });
    const noModel = broken((d) => unlinkSync(join(d, 'onnx', 'model.onnx')));
    assert.throws(() => readUpscalerFolder(noModel), { message: `upscaler ${noModel}: onnx/model.onnx is missing` });
    assert.throws(() => readUpscalerFolder(join(root, 'nowhere')), { message: /folder not found$/ });
  });

  test('another architecture (a ViT config) is refused with what it is', () => {
    const vit = broken((d) => writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'vit', architectures: ['ViTModel'], hidden_size: 384 })));
    assert.throws(() => readUpscalerFolder(vit), (err: Error) => /config\.json is not a Swin2SR super-resolution model \(model_type: model_type is not swin2sr\)/.test(err.message) && !err.message.includes('\n'));
  });

  test('a graph without pixel_values -> reconstruction is refused at load', async () => {
    const other = broken((d) => cpSync(join(x4, 'onnx', 'model.onnx'), join(d, 'onnx', 'model.onnx')));
    // Same I/O: loads. A scorer graph in its place does not.
    await (await Upscaler.load(other)).release();
    const { writeDinoFixture } = await import('../src/generator/scorers/make-scorer-fixtures.ts');
    const dino = join(root, 'dino');
    writeDinoFixture(dino);
    cpSync(join(dino, 'onnx', 'model.onnx'), join(other, 'onnx', 'model.onnx'));
    await assert.rejects(Upscaler.load(other), { code: 'upscaler_invalid', message: /is not an image-to-image graph \(needs pixel_values -> reconstruction; has inputs pixel_values; outputs last_hidden_state\)/ });
  });

});
