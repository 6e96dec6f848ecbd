/**
 * The language model in float16 (the public `_q4f16` files, CUDA's default): float16 activations,
 * KV cache and hidden states, in the builder's MultiHeadAttention and GroupQueryAttention forms, with
 * the other graphs in float32 beside it. What the engine does to the cache (the load-time outputs,
 * the in-place batch cache, the prefix caches, the replaced MultiHeadAttention bias) must hold in
 * float16 as it does in float32.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Personalizer, type GenerateRequest } from '../src/pipeline/personalizer.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

after(() => removeTinyBundles());

const subjectPhoto = () =>
  sharp({ create: { width: 160, height: 100, channels: 3, background: { r: 180, g: 60, b: 20 } } })
    .composite([{ input: { create: { width: 40, height: 30, channels: 3, background: { r: 20, g: 200, b: 90 } } }, left: 30, top: 20 }])
    .png()
    .toBuffer();

for (const form of ['mha', 'gqa', 'gqa-separate'] as const) describe(`${form} attention, q4f16 language model`, () => {
  const dir = () => tinyBundle(1, form, ['fp32', 'q4f16']);
  const load = (options: Parameters<typeof Personalizer.load>[1] = {}) =>
    Personalizer.load(dir(), { intraOpThreads: 1, dtypes: { language_model: 'q4f16' }, ...options });
  let p: Personalizer;
  before(async () => {
    p = await load();
  });
  after(async () => {
    await p?.close();
  });
  const tokens = async (x: Personalizer, request: GenerateRequest) => (await x.generate(request)).images.map((i) => i.imageTokens);

  test('the float16 graph is loaded with a float16 KV cache and fetches only the new rows', () => {
    assert.equal(p.bundle.graphs.language_model.dtype, 'q4f16');
    assert.equal(p.model.attention, form.startsWith('gqa') ? 'gqa' : form);
    assert.ok(p.model.kvAppend, p.model.kvAppendReason);
    assert.equal(Object.values(p.model.emptyCache(1))[0].type, 'float16');
  });

  test('jobs of other lengths joining mid-image draw exactly their solo images', async () => {
    const subject = await p.prepareImages([{ bytes: await subjectPhoto(), name: 'rex.png' }]);
    const a: GenerateRequest = { prompt: 'a dog on the moon', seed: 1, cfgWeight: 4 };
    const b: GenerateRequest = { prompt: 'the same dog asleep on a red sofa', subject, grounding: 'a small brown dog', seed: 2, count: 2 };
    const alone = [await tokens(p, a), await tokens(p, b)];
    let late: Promise<number[][]> | null = null;
    const first = await tokens(p, { ...a, onStep: (done) => void (done === 100 && (late = tokens(p, b))) });
    assert.deepEqual(first, alone[0]);
    assert.deepEqual(await late!, alone[1]);
    assert.ok(p.batchStats().maxJobs >= 2, 'the two jobs shared steps');
  });

  test('a known subject (cached prefix, then the prompt continued after it) draws what a cold run draws', async () => {
    const cold = await load({ visionCacheMb: 0, prefixCacheMb: 0 });
    try {
      const request = (s: Awaited<ReturnType<Personalizer['prepareImages']>>): GenerateRequest => ({ prompt: 'a dog in the snow', subject: s, grounding: 'a small brown dog', seed: 7 });
      const photos = [{ bytes: await subjectPhoto(), name: 'rex.png' }];
      const warm = await p.prepareImages(photos);
      await tokens(p, request(warm));
      const hitsBefore = p.cacheStats().prefixHits;
      const cached = await tokens(p, request(warm));
      assert.ok(p.cacheStats().prefixHits > hitsBefore, 'the second run used the cached prefix');
      assert.deepEqual(cached, await tokens(cold, request(await cold.prepareImages(photos))));
    } finally {
      await cold.close();
    }
  });

  test('fetching the whole float16 present instead of the new rows draws the same images', async () => {
    const plain = await load({ kvAppend: false });
    try {
      assert.equal(plain.model.kvAppend, null);
      const request: GenerateRequest = { prompt: 'a red mug', seed: 5, count: 2 };
      assert.deepEqual(await tokens(plain, request), await tokens(p, request));
    } finally {
      await plain.close();
    }
  });
});

test('a q4f16 variant of the plain Concat form is refused with a message naming the forms that have one', async () => {
  assert.throws(() => tinyBundle(1, 'concat', ['q4f16']), /q4f16 variant is built for the builder forms only: use attention mha or gqa/);
});
