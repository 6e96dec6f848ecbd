import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { kvBytes, kvGather, kvStack } from '../src/model/kv-rows.ts';
import { Personalizer, type GenerateRequest, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { PromptCaches } from '../src/decoding/prompt-caches.ts';
import { ATTENTION_FORMS, removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

const PROMPT = 'a dog wearing a space suit on the moon';

after(() => removeTinyBundles());

const photo = (r: number, g: number, b: number, w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } })
    .composite([{ input: { create: { width: Math.floor(w / 3), height: Math.floor(h / 2), channels: 3, background: { r: b, g: r, b: g } } }, left: 5, top: 7 }])
    .png()
    .toBuffer();

async function photos(): Promise<{ bytes: Buffer; name: string }[]> {
  return [
    { bytes: await photo(200, 90, 40, 180, 120), name: 'a.png' },
    { bytes: await photo(30, 120, 210, 100, 160), name: 'b.png' },
  ];
}

const tokens = async (p: Personalizer, request: GenerateRequest) => (await p.generate(request)).images.map((i) => i.imageTokens);

// Cached runs compute what cold ones do on every language-model form (prefix then continuation).
for (const form of ATTENTION_FORMS) describe(`${form} attention`, () => {
let cached: Personalizer;
let uncached: Personalizer;
before(async () => {
  cached = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1 });
  uncached = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1, visionCacheMb: 0, prefixCacheMb: 0 });
});
after(async () => {
  await cached?.close();
  await uncached?.close();
});
// GroupQueryAttention cannot run transformers.js' all-masked uncond row.
const unattendedUncond = form.startsWith('gqa') ? ('janus' as const) : ('transformers-js' as const);

test('a known subject: grounding then generation encode each photo once, a repeat prompt skips the photos and the prefix, and the images equal uncached runs', async () => {
  const subject = await cached.prepareImages(await photos());
  const before = cached.cacheStats();
  const grounding = await cached.ground(subject, { name: 'Rex' }, { maxNewTokens: 8 });
  const afterGround = cached.cacheStats();
  assert.equal(afterGround.visionMisses - before.visionMisses, 2, 'each photo encoded once during grounding');
  assert.ok(afterGround.prefixBytes > before.prefixBytes, 'the grounding prefix (same head and photos as generation) was kept');

  const request = { prompt: PROMPT, subject, subjectContext: { name: 'Rex' }, grounding: grounding.text, seed: 3 };
  const first = await tokens(cached, request);
  const afterFirst = cached.cacheStats();
  assert.equal(afterFirst.visionMisses, afterGround.visionMisses, 'generation did not encode the photos again');
  assert.ok(afterFirst.prefixHits > afterGround.prefixHits, 'the conditional row reused the grounding prefix');

  const again = await tokens(cached, { ...request, prompt: 'the same dog asleep on a sofa', seed: 4 });
  const afterAgain = cached.cacheStats();
  assert.equal(afterAgain.prefixHits - afterFirst.prefixHits, 2, 'both guidance rows found their prefix');
  assert.equal(afterAgain.prefixMisses, afterFirst.prefixMisses);
  assert.equal(afterAgain.visionHits + afterAgain.visionMisses, afterFirst.visionHits + afterFirst.visionMisses, 'no photo was even looked at');

  const plainSubject = await uncached.prepareImages(await photos());
  assert.deepEqual(first, await tokens(uncached, { ...request, subject: plainSubject }));
  assert.deepEqual(again, await tokens(uncached, { ...request, subject: plainSubject, prompt: 'the same dog asleep on a sofa', seed: 4 }));
  assert.equal(uncached.cacheStats().prefixBytes + uncached.cacheStats().visionBytes, 0);
});

test(`${unattendedUncond} uncond and count 2 with a subject: each image equals its own count-1 run, cached or not`, async () => {
  const subject: SubjectImages = await cached.prepareImages(await photos());
  const request = { prompt: PROMPT, subject, grounding: 'a small brown dog', seed: 10, count: 2, uncond: unattendedUncond };
  const pair = await tokens(cached, request);
  assert.notDeepEqual(pair[0], pair[1]);
  const plain = await uncached.prepareImages(await photos());
  assert.deepEqual(pair, await tokens(uncached, { ...request, subject: plain }));
  assert.deepEqual((await tokens(cached, { ...request, count: 1, seed: 11 }))[0], pair[1]);
});

test('a different photo misses the cache and changes the image', async () => {
  const [a] = await photos();
  const one = await cached.prepareImages([a]);
  const other = await cached.prepareImages([{ bytes: await photo(10, 200, 10, 120, 120), name: 'c.png' }]);
  const before = cached.cacheStats();
  const x = await tokens(cached, { prompt: PROMPT, subject: one, seed: 5 });
  const y = await tokens(cached, { prompt: PROMPT, subject: other, seed: 5 });
  assert.notDeepEqual(x, y);
  assert.ok(cached.cacheStats().visionMisses - before.visionMisses >= 1);
});

});

function fakeKv(rows: number, len: number, fill: number): Record<string, ort.Tensor> {
  const t = (v: number) => new ort.Tensor('float32', new Float32Array(rows * 2 * len * 4).fill(v), [rows, 2, len, 4]);
  return { 'past_key_values.0.key': t(fill), 'past_key_values.0.value': t(fill + 0.5) };
}

test('kvStack puts caches row after row; kvGather picks rows in any order', () => {
  const a = fakeKv(1, 3, 1);
  const b = fakeKv(1, 3, 2);
  const stacked = kvStack([a, b, a]);
  assert.deepEqual(stacked['past_key_values.0.key'].dims, [3, 2, 3, 4]);
  const at = (c: Record<string, ort.Tensor>, name: string, row: number, head: number, pos: number) => {
    const [, h, len, d] = c[name].dims as number[];
    return (c[name].data as Float32Array)[((row * h + head) * len + pos) * d];
  };
  assert.deepEqual([0, 1, 2].map((r) => at(stacked, 'past_key_values.0.key', r, 1, 2)), [1, 2, 1]);
  assert.throws(() => kvStack([a, fakeKv(1, 4, 1)]), /lengths/);

  const picked = kvGather([{ cache: stacked, row: 1 }, { cache: b, row: 0 }, { cache: stacked, row: 0 }]);
  assert.deepEqual(picked['past_key_values.0.value'].dims, [3, 2, 3, 4]);
  assert.deepEqual([0, 1, 2].map((r) => at(picked, 'past_key_values.0.value', r, 1, 2)), [2.5, 2.5, 1.5]);
  assert.throws(() => kvGather([{ cache: a, row: 0 }, { cache: fakeKv(1, 4, 1), row: 0 }]), /lengths/);
});

test('the prefix cache stays within its byte budget, dropping the least recently used entry first', () => {
  const entry = fakeKv(1, 4096, 0); // 2 tensors x 128 KiB
  assert.equal(kvBytes(entry), 256 * 1024);
  const caches = new PromptCaches({ prefixCacheMb: 0.6, visionCacheMb: 0.1 });
  caches.setPrefix('a', entry);
  caches.setPrefix('b', fakeKv(1, 4096, 1));
  assert.ok(caches.getPrefix('a'));
  caches.setPrefix('c', fakeKv(1, 4096, 2));
  assert.equal(caches.getPrefix('b'), undefined, 'b was the least recently used');
  assert.ok(caches.getPrefix('a') && caches.getPrefix('c'));
  assert.ok(caches.stats().prefixBytes <= 0.6 * 2 ** 20);
  caches.setPrefix('huge', fakeKv(1, 3 * 4096, 3));
  assert.equal(caches.getPrefix('huge'), undefined, 'an entry over the whole budget is not kept');
  assert.ok(caches.getPrefix('a'), 'and it evicted nothing');
  caches.setVision('v', new Float32Array(64 * 1024));
  assert.equal(caches.getVision('v'), undefined, '256 KiB of features do not fit in 0.1 MiB');
  caches.clear();
  assert.equal(caches.stats().prefixBytes, 0);
  assert.throws(() => new PromptCaches({ prefixCacheMb: -1 }), RangeError);
});
