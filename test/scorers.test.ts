import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AutoProcessor,
  AutoTokenizer,
  CLIPTextModelWithProjection,
  CLIPVisionModelWithProjection,
  RawImage,
  env,
  pipeline,
} from '@huggingface/transformers';
import sharp from 'sharp';
import { writeClipFixture, writeDinoFixture } from '../src/generator/scorers/make-scorer-fixtures.ts';
import { loadImage } from '../src/images/load.ts';
import { ClipScorer } from '../src/scoring/clip-scorer.ts';
import { DinoScorer } from '../src/scoring/dino-scorer.ts';
import { dreamBenchPixels, IMAGENET_MEAN, IMAGENET_STD, parseImageProcessorConfig, processorPixels } from '../src/scoring/image-processor.ts';
import { dot, mean, normalize } from '../src/scoring/vectors.ts';
import { parityPhotos } from './helpers/transformers-reference.ts';

// Our scorers against transformers.js' own classes and pipelines on the same fixture folders.

const TOLERANCE = 1e-4;
const REFERENCE = { dtype: 'fp32', device: 'cpu', local_files_only: true, session_options: { intraOpNumThreads: 1 } } as const;

let root: string;
let photos: Buffer[];
let candidate: Buffer;
/** Decoding cases beyond RGB: a PNG with alpha, a grey PNG, a JPEG rotated by EXIF. */
let oddImages: Buffer[];

/** A 384 x 384 PNG like the generator's output, textured. */
async function candidateImage(seed: number): Promise<Buffer> {
  const px = Buffer.alloc(384 * 384 * 3);
  let s = seed;
  for (let i = 0; i < px.length; i++) px[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 25) + ((i / 3) % 384) / 3;
  return sharp(px, { raw: { width: 384, height: 384, channels: 3 } }).png().toBuffer();
}

const raw = (bytes: Buffer) => RawImage.fromBlob(new Blob([new Uint8Array(bytes)]));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'xcot-scorers-'));
  writeDinoFixture(join(root, 'dino-vits16'), { variants: ['fp32', 'q8'] });
  writeClipFixture(join(root, 'clip-vit-base-patch32'), { variants: ['fp32'] });
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${root}/`;
  photos = await parityPhotos();
  candidate = await candidateImage(7);
  const base = sharp(candidate).resize(150, 100);
  oddImages = [
    await base.clone().ensureAlpha(0.5).png().toBuffer(),
    await base.clone().grayscale().toColourspace('b-w').png().toBuffer(),
    await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  ];
});

after(() => rmSync(root, { recursive: true, force: true }));

describe('DINO (Xenova/dino-vits16 layout)', () => {
  test('pixel_values equal transformers.js AutoProcessor', async () => {
    const processor = await AutoProcessor.from_pretrained('dino-vits16', REFERENCE);
    const cfg = parseImageProcessorConfig((await import(join(root, 'dino-vits16', 'preprocessor_config.json'), { with: { type: 'json' } })).default);
    for (const bytes of [...photos, candidate, ...oddImages]) {
      const ref = (await processor(await raw(bytes))).pixel_values;
      const ours = await processorPixels(await loadImage(bytes), cfg);
      assert.deepEqual(ref.dims, [1, 3, ours.height, ours.width]);
      assert.equal(maxAbsDiff(ours.pixels, ref.data), 0);
    }
  });

  test('CLS features and fidelity equal the image-feature-extraction pipeline', async () => {
    const extractor = await pipeline('image-feature-extraction', 'dino-vits16', REFERENCE);
    const ref: Float64Array[] = [];
    for (const bytes of [candidate, ...photos]) {
      const out = await extractor(await raw(bytes));
      assert.equal(out.dims.length, 3);
      ref.push(normalize((out.data as Float32Array).subarray(0, out.dims[2])));
    }
    const scorer = await DinoScorer.load(join(root, 'dino-vits16'));
    try {
      const ours = await scorer.embed([candidate, ...photos]);
      ours.forEach((v, i) => assert.ok(maxAbsDiff(v, ref[i]) < TOLERANCE, `image ${i}: ${maxAbsDiff(v, ref[i])}`));
      const expected = mean(ref.slice(1).map((p) => dot(ref[0], p)));
      const fidelity = await scorer.fidelity(candidate, photos);
      assert.ok(Math.abs(fidelity - expected) < TOLERANCE, `fidelity ${fidelity} vs transformers.js ${expected}`);
      assert.ok(Math.abs(fidelity) < 0.999, 'a different image must not score as identical');
      assert.ok(Math.abs((await scorer.fidelity(photos[0], [photos[0]])) - 1) < 1e-6);
      // Same size, other pixels: embeddings are kept by content, not by shape.
      const other = await candidateImage(8);
      assert.ok((await scorer.fidelity(other, [candidate])) < 0.999);
      const decoded = await loadImage(other);
      assert.ok(Math.abs((await scorer.fidelity(decoded, [other])) - 1) < 1e-6);
    } finally {
      await scorer.release();
    }
  });

  test('the _quantized file (dtype q8) equals transformers.js with dtype q8', async () => {
    const extractor = await pipeline('image-feature-extraction', 'dino-vits16', { ...REFERENCE, dtype: 'q8' });
    const out = await extractor(await raw(candidate));
    const ref = normalize((out.data as Float32Array).subarray(0, out.dims[2]));
    const scorer = await DinoScorer.load(join(root, 'dino-vits16'), { dtype: 'q8' });
    try {
      const [ours] = await scorer.embed([candidate]);
      assert.ok(maxAbsDiff(ours, ref) < TOLERANCE);
    } finally {
      await scorer.release();
    }
  });

  test('DreamBench protocol: ImageNet normalization, short side to 256, centre crop 224', async () => {
    const flat = await dreamBenchPixels({ data: new Uint8Array(300 * 200 * 3).fill(200), width: 300, height: 200 });
    assert.equal(flat.length, 3 * 224 * 224);
    for (let c = 0; c < 3; c++) {
      const want = (Math.fround(200 / 255) - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      assert.ok(Math.abs(flat[c * 224 * 224 + 5000] - want) < 1e-5, `channel ${c}`);
    }
    // 512 x 256 keeps its size; the crop starts at column (512 - 224) / 2 = 144, so the red/blue
    // boundary at column 256 lands between crop columns 111 and 112.
    const halves = new Uint8Array(512 * 256 * 3);
    for (let i = 0; i < 512 * 256; i++) halves[i * 3 + ((i % 512) < 256 ? 0 : 2)] = 255;
    const cropped = await dreamBenchPixels({ data: halves, width: 512, height: 256 });
    const red = (x: number) => cropped[100 * 224 + x];
    const hi = (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
    assert.ok(Math.abs(red(111) - hi) < 1e-5 && red(112) < 0, `columns 111/112: ${red(111)}, ${red(112)}`);

    const dreambench = await DinoScorer.load(join(root, 'dino-vits16'), { protocol: 'dreambench' });
    try {
      assert.ok(Math.abs((await dreambench.fidelity(photos[1], [photos[1]])) - 1) < 1e-6);
    } finally {
      await dreambench.release();
    }
  });
});

describe('CLIP (Xenova/clip-vit-base-patch32 layout)', () => {
  let scorer: ClipScorer;
  before(async () => {
    scorer = await ClipScorer.load(join(root, 'clip-vit-base-patch32'));
  });
  after(() => scorer.release());

  test('pixel_values equal transformers.js AutoProcessor (resize shortest edge, bicubic, centre crop)', async () => {
    const processor = await AutoProcessor.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const cfg = parseImageProcessorConfig((await import(join(root, 'clip-vit-base-patch32', 'preprocessor_config.json'), { with: { type: 'json' } })).default);
    for (const bytes of [...photos, candidate, ...oddImages]) {
      const ref = (await processor(await raw(bytes))).pixel_values;
      const ours = await processorPixels(await loadImage(bytes), cfg);
      assert.deepEqual(ref.dims, [1, 3, 224, 224]);
      assert.deepEqual([ours.width, ours.height], [224, 224]);
      assert.equal(maxAbsDiff(ours.pixels, ref.data), 0);
    }
  });

  test('CLIP-I equals CLIPVisionModelWithProjection image_embeds cosines', async () => {
    const processor = await AutoProcessor.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const vision = await CLIPVisionModelWithProjection.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const ref: Float64Array[] = [];
    for (const bytes of [candidate, ...photos]) {
      const { image_embeds } = await vision(await processor(await raw(bytes)));
      ref.push(normalize(image_embeds.data as Float32Array));
    }
    const ours = await scorer.embedImages([candidate, ...photos]);
    ours.forEach((v, i) => assert.ok(maxAbsDiff(v, ref[i]) < TOLERANCE, `image ${i}`));
    const expected = mean(ref.slice(1).map((p) => dot(ref[0], p)));
    assert.ok(Math.abs((await scorer.fidelity(candidate, photos)) - expected) < TOLERANCE);
  });

  test('CLIP-T equals CLIPTextModelWithProjection + tokenizer on the same folder', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const text = await CLIPTextModelWithProjection.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const processor = await AutoProcessor.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const vision = await CLIPVisionModelWithProjection.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const image = normalize((await vision(await processor(await raw(candidate)))).image_embeds.data as Float32Array);
    for (const prompt of ['a photo of a dog wearing a space suit on the moon', 'A  RED Backpack, on a mountain at sunrise!', 'teddy bear 4k']) {
      const inputs = tokenizer([prompt], { padding: true, truncation: true });
      assert.deepEqual(scorer.tokenize(prompt), Array.from(inputs.input_ids.data as BigInt64Array, Number), prompt);
      const ref = normalize((await text(inputs)).text_embeds.data as Float32Array);
      const alignment = await scorer.alignment(candidate, prompt);
      assert.ok(Math.abs(alignment - dot(image, ref)) < TOLERANCE, `${prompt}: ${alignment} vs ${dot(image, ref)}`);
    }
  });

  test('a prompt over 77 tokens keeps the end token, as CLIPTokenizer does (transformers.js cuts it off)', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained('clip-vit-base-patch32', REFERENCE);
    const prompt = Array.from({ length: 60 }, (_, i) => `dog ${i % 10}`).join(' ');
    const ids = scorer.tokenize(prompt);
    const full = tokenizer([prompt]).input_ids.data as BigInt64Array;
    const cut = Array.from(tokenizer([prompt], { truncation: true, max_length: 77 }).input_ids.data as BigInt64Array, Number);
    assert.ok(full.length > 77);
    assert.equal(ids.length, 77);
    assert.deepEqual(ids.slice(0, 76), cut.slice(0, 76));
    assert.equal(ids[76], Number(full[full.length - 1]));
    assert.notEqual(cut[76], ids[76]);
  });
});
