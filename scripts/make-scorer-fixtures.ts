import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { ScorerWeights } from '../src/generator/scorers/encoder.ts';
import { writeClipFixture, writeDinoFixture } from '../src/generator/scorers/make-scorer-fixtures.ts';
import { UPSCALER_FIXTURES, writeUpscalerFixtures } from '../src/generator/upscalers/make-upscaler-fixtures.ts';
import { loadScorers, scoreGroup } from '../src/scoring/index.ts';

const USAGE = `Usage: npm run make-scorer-fixtures -- --out DIR [--seed N] [--variants fp32,q8] [--real] [--time]
Writes DIR/dino-vits16 and DIR/clip-vit-base-patch32: random-weight scorer models in the layout of
Xenova/dino-vits16 and Xenova/clip-vit-base-patch32 (a SCORER_DIR for tests, not models), and
DIR/swin2SR-realworld-sr-x4-64-bsrgan-psnr and DIR/swin2SR-lightweight-x2-64: random-weight upscalers
in the layout of the Xenova Swin2SR repositories (an UPSCALER_DIR or --upscale folder for tests).
--real: the real models' sizes (ViT-S/16; CLIP ViT-B/32; Swin2SR embed_dim 180 x 6 groups of 6 and
the lightweight 60 x 4 x 6), for timing.
--time: then score 3 groups of 4 new candidates against the same 2 subject photos (DINO fidelity,
CLIP-T) and print the time of each (the first one embeds the photos too).`;

const VARIANTS: ScorerWeights[] = ['fp32', 'q8'];

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string' },
        seed: { type: 'string', default: '1' },
        variants: { type: 'string', default: 'fp32' },
        real: { type: 'boolean' },
        time: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    fail((err as Error).message.split('\n')[0]);
  }
  if (values.help || !values.out) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const seed = Number(values.seed);
  if (!/^\d+$/.test(values.seed) || seed > 0xffffffff) fail(`--seed takes 0 to ${0xffffffff}`);
  const variants = values.variants.split(',') as ScorerWeights[];
  const unknown = variants.filter((v) => !VARIANTS.includes(v));
  if (unknown.length) fail(`unknown --variants ${unknown.join(',')} (fp32, q8)`);
  writeDinoFixture(join(values.out, 'dino-vits16'), { seed, variants, real: values.real });
  writeClipFixture(join(values.out, 'clip-vit-base-patch32'), { seed: seed + 1, variants, real: values.real });
  writeUpscalerFixtures(values.out, { seed: seed + 2, real: values.real });
  console.error(`wrote ${values.out}/dino-vits16, ${values.out}/clip-vit-base-patch32, ${values.out}/${UPSCALER_FIXTURES.x4} and ${values.out}/${UPSCALER_FIXTURES.x2}`);
  if (values.time) await time(values.out);
}

async function time(dir: string): Promise<void> {
  const { dino, clip } = await loadScorers(dir);
  if (!dino || !clip) throw new Error('scorers missing after writing them');
  const image = (seed: number, w: number, h: number) => {
    const px = Buffer.alloc(w * h * 3);
    let s = seed;
    for (let i = 0; i < px.length; i++) px[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
    return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  };
  const photos = await Promise.all([image(100, 640, 480), image(101, 480, 640)]);
  for (let pass = 1; pass <= 3; pass++) {
    // New candidates and prompt each pass; the photos' embeddings are kept after the first.
    const candidates = await Promise.all([1, 2, 3, 4].map((s) => image(pass * 10 + s, 384, 384)));
    const t0 = performance.now();
    await scoreGroup({ candidates, subjectPhotos: photos, prompt: `a dog wearing a space suit on the moon ${pass}`, subject: dino, promptScorer: clip });
    console.log(`pass ${pass}: group of 4 scored in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  await Promise.all([dino.release(), clip.release()]);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

await main();
