/**
 * Images fitted to the upload limit where they are made: the run that draws (or upscales) a job
 * encodes an image over the job's upload limit again, once, and keeps it so; whoever posts it (this
 * process, a gateway in Redis mode, a restarted one) sends it as it comes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { JobQueue } from '../src/jobs/in-process/job-queue.ts';
import { GenerationService } from '../src/jobs/in-process/generation-service.ts';
import { outcomeFromKept } from '../src/jobs/kept-outcome.ts';
import { fitToUploadLimit, type EncodedImage } from '../src/images/upload-fit.ts';
import { encodeImage } from '../src/images/encode.ts';
import { resultFiles } from '../src/bot/delivery/result-files.ts';
import { resultMessage } from '../src/bot/delivery/result-message.ts';
import { openStores, type Stores } from '../src/store/index.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

const OWNER = '1300000000000000021';
const CHANNEL = '1200000000000000022';
const LIMIT = 64 * 1024;

let p: Personalizer;
let stores: Stores;
let dataDir: string;

before(async () => {
  p = await Personalizer.load(tinyBundle(1), { intraOpThreads: 1 });
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-upload-fit-'));
  stores = await openStores({ dataDir });
});

after(async () => {
  await p.close();
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

/** Random pixels: a PNG of them is about as large as the raw pixels. */
async function noisePng(side: number): Promise<EncodedImage> {
  const rgb = new Uint8Array(side * side * 3).map(() => Math.floor(Math.random() * 256));
  return { data: await encodeImage(rgb, side, side, { format: 'png' }), format: 'png', width: side, height: side };
}

test('fitToUploadLimit keeps an image within the limit byte for byte and encodes one over it as WebP within it, with its quality', async () => {
  const small = await noisePng(32);
  const big = await noisePng(256);
  assert.ok(small.data.byteLength < LIMIT && big.data.byteLength > LIMIT);
  const [keptSmall, fittedBig] = await fitToUploadLimit([small, big], LIMIT);
  assert.equal(keptSmall, small, 'the same image, not a copy');
  assert.equal(fittedBig.format, 'webp');
  assert.ok(fittedBig.data.byteLength <= LIMIT, `${fittedBig.data.byteLength} bytes`);
  assert.ok(fittedBig.quality && fittedBig.quality >= 30 && fittedBig.quality <= 90);
  const meta = await sharp(fittedBig.data).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 256]);
});

test('a job drawn for a channel with a small upload limit is kept already fitted (WebP within the limit), and its result files are those bytes as they are', async () => {
  const service = new GenerationService(p, stores, new JobQueue({ concurrency: 1, maxWaitingPerUser: 5, maxQueueLength: 10 }), { scorer: 'none' });
  const job = await stores.jobs.create({ ownerId: OWNER, guildId: null, channelId: CHANNEL, prompt: 'a very detailed forest', seed: 7, options: {}, uploadLimit: LIMIT });
  const outcome = await service.submit(job).result;
  const made = outcome.generation.images[0];
  assert.equal(made.format, 'webp');
  assert.ok(made.data.byteLength <= LIMIT, `${made.data.byteLength} bytes`);

  const kept = await stores.jobs.keptResult(job.id);
  assert.ok(kept, 'kept with the record');
  assert.equal(kept.images[0].format, 'webp');
  assert.equal(kept.images[0].quality, made.quality);
  assert.deepEqual(Buffer.from(kept.images[0].data, 'base64'), Buffer.from(made.data));

  // What a gateway posts from the kept result: the stored bytes, not encoded again.
  const { files, images } = await resultFiles(outcomeFromKept(outcome.job, kept), LIMIT);
  assert.deepEqual(files[0].attachment, Buffer.from(made.data));
  assert.match(files[0].name ?? '', /\.webp$/);
  assert.equal(images[0].quality, made.quality);
});

test('an upscale fitted where it was made still says what it was sent as: “Sent as WebP quality N”, and a PNG says nothing of the kind', async () => {
  const big = await noisePng(256);
  const [fitted] = await fitToUploadLimit([big], LIMIT);
  const job = await stores.jobs.create({ ownerId: OWNER, guildId: null, channelId: CHANNEL, prompt: 'upscale', seed: 1, options: {}, upscale: { index: 0, scale: 4 }, uploadLimit: LIMIT });
  const outcome = (img: EncodedImage) => ({
    job,
    generation: { images: [{ ...img, data: Buffer.from(img.data), seed: 1, imageTokens: [] }], promptTokens: 0, timings: { tokensMs: 1000, decodeMs: 0, imageTokensPerSec: 0 } },
    grounding: { text: '', cached: false, ms: 0 },
    totalMs: 1000,
  });
  const sent = await resultMessage(outcome(fitted), { sizeLimit: LIMIT, trace: false });
  assert.match(sent.content ?? '', new RegExp(`Sent as WebP quality ${fitted.quality}: a PNG of this size would not fit this channel's upload limit`));
  const small = await resultMessage(outcome(await noisePng(32)), { sizeLimit: LIMIT, trace: false });
  assert.doesNotMatch(small.content ?? '', /Sent as/);
});
