import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { AutoImageProcessor, RawImage, Tensor, env } from '@huggingface/transformers';
import {
  ImageInputError,
  type ImageErrorCode,
  decodedToImage,
  encodeImage,
  loadImage,
  loadImages,
  parsePreprocessorConfig,
  readHeader,
  reencodeToFit,
  resizedSize,
  stackPixelValues,
  toPixelValues,
} from '../src/images/index.ts';

const JANUS_CONFIG = {
  background_color: [127, 127, 127],
  do_normalize: true,
  image_mean: [0.5, 0.5, 0.5],
  image_std: [0.5, 0.5, 0.5],
  image_size: 384,
  min_size: 14,
  rescale_factor: 0.00392156862745098,
  image_processor_type: 'VLMImageProcessor',
  processor_class: 'VLChatProcessor',
};
// Different size, filter, colour and statistics, to show nothing is hard-coded.
const OTHER_CONFIG = {
  ...JANUS_CONFIG,
  background_color: [10, 200, 30],
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  image_size: 224,
  resample: 3,
};

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'images-test-'));
  for (const [name, cfg] of [['janus', JANUS_CONFIG], ['other', OTHER_CONFIG]] as const) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, 'preprocessor_config.json'), JSON.stringify(cfg));
  }
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dir;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- fixtures -------------------------------------------------------------------------------

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Gradients plus noise, so that resampling filters and channel order both matter. */
function pattern(width: number, height: number, channels: number, seed = 1): Buffer {
  const rnd = random(seed);
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      const base = [(255 * x) / width, (255 * y) / height, (255 * (x + y)) / (width + height), 64 + (191 * x) / width];
      for (let c = 0; c < channels; c++) out[i + c] = Math.max(0, Math.min(255, base[c] + (rnd() - 0.5) * 80));
    }
  }
  return out;
}

const raw = (data: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4) =>
  sharp(data, { raw: { width, height, channels } });

const png = (w: number, h: number, ch: 3 | 4 = 3, seed = 1) => raw(pattern(w, h, ch, seed), w, h, ch).png().toBuffer();

const solid = (width: number, height: number, background: string) =>
  sharp({ create: { width, height, channels: 3, background } });

async function expectImageError(promise: Promise<unknown>, code: ImageErrorCode): Promise<ImageInputError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ImageInputError, `expected ImageInputError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /[\r\n]/);
    return err;
  }
  assert.fail(`expected ImageInputError ${code}`);
}

// ---- loading --------------------------------------------------------------------------------

test('loads PNG with alpha by dropping alpha, like RawImage.rgb()', async () => {
  const rgba = Buffer.from([10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 7]);
  const image = await loadImage(await raw(rgba, 2, 2, 4).png().toBuffer());
  assert.deepEqual({ w: image.width, h: image.height, f: image.format }, { w: 2, h: 2, f: 'png' });
  assert.deepEqual([...image.data], [10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3]);
});

test('applies EXIF orientation 6 (rotate 90° clockwise)', async () => {
  // Stored 300x200, left half red, right half blue; displayed it is 200x300 with red on top.
  const left = await solid(150, 200, '#ff0000').png().toBuffer();
  const jpeg = await solid(300, 200, '#0000ff')
    .composite([{ input: left, left: 0, top: 0 }])
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const image = await loadImage(jpeg);
  assert.equal(image.format, 'jpeg');
  assert.deepEqual([image.width, image.height], [200, 300]);
  const at = (x: number, y: number) => [...image.data.subarray((y * 200 + x) * 3, (y * 200 + x) * 3 + 3)];
  assert.ok(at(100, 20)[0] > 200 && at(100, 20)[2] < 50, `top should be red: ${at(100, 20)}`);
  assert.ok(at(100, 280)[2] > 200 && at(100, 280)[0] < 50, `bottom should be blue: ${at(100, 280)}`);
});

test('loads only the first frame of an animated GIF', async () => {
  const frames = [await solid(30, 20, '#ff0000').png().toBuffer(), await solid(30, 20, '#0000ff').png().toBuffer()];
  const gif = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
  const image = await loadImage(gif);
  assert.deepEqual([image.format, image.width, image.height], ['gif', 30, 20]);
  assert.deepEqual([...image.data.subarray(0, 3)], [255, 0, 0]);
});

test('loads WebP and AVIF', async () => {
  const webp = await raw(pattern(40, 30, 3), 40, 30, 3).webp().toBuffer();
  const avif = await raw(pattern(40, 30, 3), 40, 30, 3).avif().toBuffer();
  assert.equal((await loadImage(webp)).format, 'webp');
  assert.equal((await loadImage(avif)).format, 'avif');
});

test('rejects empty, non-image, SVG and TIFF input', async () => {
  await expectImageError(loadImage(new Uint8Array(0)), 'empty');
  const text = await expectImageError(
    loadImage(new TextEncoder().encode('hello, this is not an image\n'), { name: 'photo.txt' }),
    'unsupported_format',
  );
  assert.equal(text.message, 'photo.txt is not an image (PNG, JPEG, WebP, GIF or AVIF expected)');

  const rnd = random(7);
  const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256));
  await expectImageError(loadImage(noise), 'unsupported_format');

  const svg = new TextEncoder().encode(
    '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
  );
  const svgError = await expectImageError(loadImage(svg, { name: 'logo.svg' }), 'unsupported_format');
  assert.match(svgError.message, /^logo\.svg is an SVG image/);

  const tiff = await solid(20, 20, '#808080').tiff().toBuffer();
  await expectImageError(loadImage(tiff), 'unsupported_format');
});

test('rejects truncated and corrupt files', async () => {
  const pngBytes = await png(200, 200);
  const jpegBytes = await raw(pattern(200, 200, 3), 200, 200, 3).jpeg().toBuffer();
  await expectImageError(loadImage(pngBytes.subarray(0, Math.floor(pngBytes.length * 0.6))), 'corrupt');
  await expectImageError(loadImage(jpegBytes.subarray(0, Math.floor(jpegBytes.length * 0.6))), 'corrupt');
  await expectImageError(loadImage(pngBytes.subarray(0, 30)), 'corrupt'); // cut inside IHDR
  const junk = Buffer.concat([pngBytes.subarray(0, 8), Buffer.alloc(200, 0x41)]); // PNG magic, no PNG
  await expectImageError(loadImage(junk), 'corrupt');
});

test('rejects a pixel bomb from its header, before decoding', async () => {
  // A real 64x64 PNG whose IHDR now claims 20000x20000: decoding it could only fail as truncated,
  // so a pixel_limit error shows the header check caught it first.
  const bomb = Buffer.from(await solid(64, 64, '#808080').png().toBuffer());
  bomb.writeUInt32BE(20000, 16);
  bomb.writeUInt32BE(20000, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
  assert.ok(bomb.length < 1000);
  const err = await expectImageError(readHeader(bomb, { name: 'bomb.png' }), 'pixel_limit');
  assert.match(err.message, /20000×20000/);
  await expectImageError(loadImage(bomb), 'pixel_limit');

  // A genuine image over a (lowered) limit.
  const big = await solid(2000, 1000, '#808080').png().toBuffer();
  await expectImageError(loadImage(big, { maxPixels: 1_000_000 }), 'pixel_limit');
  assert.equal((await readHeader(big, { maxPixels: 2_000_000 })).width, 2000);
});

test('rejects files over the byte limit before looking at them', async () => {
  const huge = new Uint8Array(10 * 1024 * 1024 + 1);
  huge.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const err = await expectImageError(loadImage(huge, { name: 'huge.png' }), 'too_large');
  assert.equal(err.message, 'huge.png is too large (10.0 MiB; the limit is 10.0 MiB)');
  await expectImageError(loadImage(await png(64, 64), { maxBytes: 100 }), 'too_large');
});

test('rejects too many images before decoding any', async () => {
  const five = Array.from({ length: 5 }, () => ({ bytes: new Uint8Array(0) }));
  await expectImageError(loadImages(five), 'too_many');
  const two = await loadImages([{ bytes: await png(8, 8) }, { bytes: await png(9, 9) }], { maxImages: 2 });
  assert.deepEqual(two.map((i) => i.width), [8, 9]);
});

test('error messages are one line even for hostile names', async () => {
  const err = await expectImageError(loadImage(new Uint8Array(0), { name: 'evil\nname\u0007.png' }), 'empty');
  assert.equal(err.message, 'evil name .png is empty');
});

// ---- preprocessing ----------------------------------------------------------------------------

test('parses preprocessor_config.json and computes resized sizes like transformers.js', () => {
  const cfg = parsePreprocessorConfig(JANUS_CONFIG);
  assert.equal(cfg.image_size, 384);
  assert.equal(cfg.resample, 2);
  assert.throws(() => parsePreprocessorConfig({ ...JANUS_CONFIG, image_size: undefined }));
  assert.deepEqual(resizedSize(1000, 300, cfg), { width: 384, height: 115 });
  assert.deepEqual(resizedSize(383, 100, cfg), { width: 384, height: 100 });
  assert.deepEqual(resizedSize(100, 100, cfg), { width: 384, height: 384 });
  assert.deepEqual(resizedSize(3, 2000, cfg), { width: 14, height: 384 }); // min_size; transformers.js fails here
});

for (const [mode, pad] of [
  // transformers.js pads after normalizing with background_color * rescale_factor;
  ['transformers-js', Math.fround(127 * JANUS_CONFIG.rescale_factor)],
  // the Janus reference pads with background_color before normalizing.
  ['janus', (Math.fround(127 * JANUS_CONFIG.rescale_factor) - 0.5) / 0.5],
] as const) {
  test(`pads wide and tall images to a centred square (${mode})`, async () => {
    const cfg = parsePreprocessorConfig(JANUS_CONFIG);
    const S = 384;
    const wide = await toPixelValues(await loadImage(await solid(400, 100, '#ff0000').png().toBuffer()), cfg, mode);
    assert.equal(wide.length, 3 * S * S);
    // 400x100 -> 384x96, top offset (384 - 96) / 2 = 144; red channel is 1, green -1 inside.
    const r = (y: number, x: number) => wide[y * S + x];
    const g = (y: number, x: number) => wide[S * S + y * S + x];
    assert.deepEqual([r(143, 10), r(144, 10), r(239, 10), r(240, 10)], [pad, 1, 1, pad]);
    assert.deepEqual([g(143, 10), g(144, 10), g(239, 10), g(240, 10)], [pad, -1, -1, pad]);

    const tall = await toPixelValues(await loadImage(await solid(101, 400, '#00ff00').png().toBuffer()), cfg, mode);
    // 101x400 -> 96x384 (96.96 floored), left offset 144.
    const tg = (y: number, x: number) => tall[S * S + y * S + x];
    assert.deepEqual([tg(10, 143), tg(10, 144), tg(10, 239), tg(10, 240)], [pad, 1, 1, pad]);
  });
}

test('stacks pixel values into one batch', () => {
  const a = new Float32Array([1, 2, 3]);
  const b = new Float32Array([4, 5, 6]);
  assert.deepEqual([...stackPixelValues([a, b])], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => stackPixelValues([a, new Float32Array(2)]));
  assert.throws(() => stackPixelValues([]));
});

const parityCases: [string, () => Promise<Buffer>][] = [
  ['RGBA PNG 300x200 (varying alpha)', () => png(300, 200, 4, 2)],
  ['wide JPEG 640x360', () => raw(pattern(640, 360, 3, 3), 640, 360, 3).jpeg({ quality: 90 }).toBuffer()],
  ['tall PNG 200x700', () => png(200, 700, 3, 4)],
  ['square PNG 384x384 (no resize)', () => png(384, 384, 3, 5)],
  ['square WebP 512x512', () => raw(pattern(512, 512, 3, 6), 512, 512, 3).webp({ quality: 90 }).toBuffer()],
  ['JPEG 300x200 with EXIF orientation 6', () => raw(pattern(300, 200, 3, 7), 300, 200, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer()],
  ['GIF 120x80', () => raw(pattern(120, 80, 3, 8), 120, 80, 3).gif().toBuffer()],
  ['greyscale PNG 257x129', () => raw(pattern(257, 129, 1, 9), 257, 129, 1).toColourspace('b-w').png().toBuffer()],
  ['tiny PNG 50x30 (upscaled)', () => png(50, 30, 3, 10)],
  ['PNG 1000x999', () => png(1000, 999, 3, 11)],
  ['PNG 383x100', () => png(383, 100, 3, 12)],
  ['RGBA PNG 641x480', () => png(641, 480, 4, 13)],
  ['AVIF 160x90', () => raw(pattern(160, 90, 3, 14), 160, 90, 3).avif().toBuffer()],
];

for (const bundle of ['janus', 'other'] as const) {
  test(`pixel values match transformers.js VLMImageProcessor (${bundle} config)`, async (t) => {
    const cfg = parsePreprocessorConfig(bundle === 'janus' ? JANUS_CONFIG : OTHER_CONFIG);
    const processor = await AutoImageProcessor.from_pretrained(bundle, { local_files_only: true });
    assert.equal(processor.constructor.name, 'VLMImageProcessor');
    let worst = 0;
    for (const [name, make] of parityCases) {
      const bytes = await make();
      const ours = await toPixelValues(await loadImage(bytes), cfg, 'transformers-js');
      const { pixel_values } = await processor(await RawImage.fromBlob(new Blob([new Uint8Array(bytes)])));
      assert.deepEqual(pixel_values.dims, [1, 3, cfg.image_size, cfg.image_size], name);
      const theirs = pixel_values.data as Float32Array;
      let diff = 0;
      for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      t.diagnostic(`${name}: max abs diff ${diff}`);
      assert.ok(diff <= 1e-5, `${name}: max abs diff ${diff}`);
      worst = Math.max(worst, diff);
    }
    t.diagnostic(`worst max abs diff over ${parityCases.length} images: ${worst}`);
  });
}

// ---- decoding model output and encoding ------------------------------------------------------

test('decodedToImage maps [-1, 1] CHW to uint8 HWC, truncating like transformers.js', () => {
  const first = new Array(12).fill(0.9);
  const second = [
    ...[-1, 0, 1, 1.5], // R
    ...[-0.5, 0.99, -2, NaN], // G
    ...[0.5, -0.999, 0.25, 0.0039], // B
  ];
  const rgb = decodedToImage(new Float32Array([...first, ...second]), 1, 2);
  assert.deepEqual([...rgb], [0, 63, 191, 127, 253, 0, 255, 0, 159, 255, 0, 127]);
  assert.throws(() => decodedToImage(new Float32Array(24), 2, 2), RangeError);
});

test('decodedToImage equals transformers.js generate_images post-processing', () => {
  const n = 2;
  const size = 16;
  const rnd = random(42);
  const data = Float32Array.from({ length: n * 3 * size * size }, () => (rnd() - 0.5) * 2.4);
  const clamped = new Tensor('float32', data.slice(), [n, 3, size, size]).add_(1).mul_(255 / 2).clamp_(0, 255).to('uint8');
  let i = 0;
  for (const image of clamped) {
    // Same loop as generate_images: one RawImage per batch entry.
    assert.deepEqual(decodedToImage(data, i++, size), Uint8Array.from(RawImage.fromTensor(image).data));
  }
  assert.equal(i, n);
});

test('PNG encoding is lossless and deterministic', async () => {
  const rgb = pattern(64, 48, 3, 21);
  const a = await encodeImage(rgb, 64, 48, { format: 'png' });
  const b = await encodeImage(Uint8Array.from(rgb), 64, 48);
  assert.ok(a.equals(b));
  const back = await sharp(a).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([back.info.width, back.info.height, back.info.channels], [64, 48, 3]);
  assert.ok(back.data.equals(rgb));
  assert.equal((await sharp(await encodeImage(rgb, 64, 48, { format: 'webp', quality: 80 })).metadata()).format, 'webp');
  await assert.rejects(encodeImage(rgb, 64, 47), RangeError);
});

test('reencodeToFit prefers PNG and falls back to smaller WebP', async () => {
  const rgb = pattern(256, 256, 3, 22);
  const pngBytes = await encodeImage(rgb, 256, 256);
  const roomy = await reencodeToFit(rgb, 256, 256, pngBytes.length);
  assert.equal(roomy.format, 'png');
  assert.ok(roomy.data.equals(pngBytes));
  const tight = await reencodeToFit(rgb, 256, 256, Math.floor(pngBytes.length / 2));
  assert.equal(tight.format, 'webp');
  assert.ok(tight.data.length <= pngBytes.length / 2);
  await assert.rejects(reencodeToFit(rgb, 256, 256, 50), RangeError);
});
