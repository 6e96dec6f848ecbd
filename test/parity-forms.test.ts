/**
 * The public export's language-model forms (onnxruntime-genai builder: MultiHeadAttention and
 * GroupQueryAttention on a packed qkv_proj, and on separate q/k/v with RotaryEmbedding) against
 * transformers.js on the same fixture, and against each other: for one seed the concat, mha, gqa
 * and gqa-separate fixtures hold the same weights, so the same request must draw the same image on all.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { MultiModalityCausalLM, RawImage, Tensor } from '@huggingface/transformers';
import { InputError } from '../src/errors.ts';
import { Personalizer, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { groundingMessages, GROUNDING_TEMPLATE, xcotPrompts, type SubjectContext } from '../src/pipeline/xcot-prompts.ts';
import { ATTENTION_FORMS, removeTinyBundles, tinyBundle, type AttentionForm } from './helpers/tiny-bundle.ts';
import { firstDifference, loadReference, parityPhotos, type Reference } from './helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit on the moon';
const TOKENS = 576;
const CONTEXT: SubjectContext = { name: 'Rex', context: 'he loves the beach' };
const GROUND_TOKENS = 24;

const ours = new Map<AttentionForm, Personalizer>();
const refs = new Map<AttentionForm, Reference>();
let photos: Buffer[];
let subject: SubjectImages;

before(async () => {
  for (const form of ATTENTION_FORMS) {
    ours.set(form, await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1 }));
    if (form !== 'concat') refs.set(form, await loadReference(tinyBundle(1, form)));
  }
  photos = await parityPhotos();
  subject = await ours.get('concat')!.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
});

after(async () => {
  for (const p of ours.values()) await p.close();
  for (const r of refs.values()) await r.model.dispose();
  removeTinyBundles();
});

/** transformers.js' image tokens for text-to-image (generate in image mode, prompt sliced off). */
async function referenceImageTokens(r: Reference, guidance: number): Promise<number[]> {
  const inputs = await r.processor([{ role: '<|User|>', content: PROMPT }], { chat_template: 'text_to_image' });
  r.model._generation_mode = 'image';
  const base = Object.getPrototypeOf(MultiModalityCausalLM.prototype) as { generate: (o: unknown) => Promise<any> };
  const all = await base.generate.call(r.model, { ...inputs, min_new_tokens: TOKENS, max_new_tokens: TOKENS, do_sample: false, guidance_scale: guidance });
  return (all.tolist()[0] as bigint[]).slice(inputs.input_ids.dims[1]).map(Number);
}

test('the engine reads each fixture\'s attention form and builder variant and fetches only the new KV rows on all four', () => {
  const expected = { concat: ['concat', 'concat'], mha: ['mha', 'mha'], gqa: ['gqa', 'gqa-packed'], 'gqa-separate': ['gqa', 'gqa-separate'] } as const;
  for (const form of ATTENTION_FORMS) {
    const model = ours.get(form)!.model;
    assert.deepEqual([model.attention, model.attentionVariant], expected[form]);
    assert.ok(model.kvAppend, `${form}: ${model.kvAppendReason}`);
    assert.match(model.kvStrategy, new RegExp(`^${expected[form][0]} attention: only each step's new KV rows`));
  }
});

test('mha: greedy text-to-image with guidance 5 (transformers.js uncond) equals transformers.js token for token', async () => {
  const expected = await referenceImageTokens(refs.get('mha')!, 5);
  const g = await ours.get('mha')!.generate({ prompt: PROMPT, greedy: true, cfgWeight: 5, uncond: 'transformers-js' });
  assert.deepEqual(g.images[0].imageTokens, expected, `first difference ${firstDifference(g.images[0].imageTokens, expected)}`);
});

for (const form of ['mha', 'gqa', 'gqa-separate'] as const) {
  test(`${form}: greedy text-to-image with guidance 1 equals transformers.js token for token`, async () => {
    const expected = await referenceImageTokens(refs.get(form)!, 1);
    const g = await ours.get(form)!.generate({ prompt: PROMPT, greedy: true, cfgWeight: 1 });
    assert.deepEqual(g.images[0].imageTokens, expected, `first difference ${firstDifference(g.images[0].imageTokens, expected)}`);
  });

  test(`${form}: the greedy X-CoT grounding with two photos equals transformers.js generate`, async () => {
    const r = refs.get(form)!;
    const p = ours.get(form)!;
    const messages = groundingMessages(xcotPrompts(p.bundle), p.bundle.processor.image_tag, subject.pixels.count, CONTEXT);
    const images = await Promise.all(photos.map((b) => RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
    const inputs = await r.processor(messages, { images, chat_template: GROUNDING_TEMPLATE });
    const pixelValues = new Tensor('float32', subject.pixels.data, [1, subject.pixels.count, 3, 384, 384]);
    const out = await r.model.generate({ ...inputs, pixel_values: pixelValues, max_new_tokens: GROUND_TOKENS, do_sample: false });
    let expected = (out.tolist()[0] as bigint[]).slice(inputs.input_ids.dims[1]).map(Number);
    if (expected.at(-1) === p.tokenizer.eos) expected = expected.slice(0, -1);
    const g = await p.ground(subject, CONTEXT, { maxNewTokens: GROUND_TOKENS, greedy: true });
    assert.ok(g.tokenIds.length > 0);
    assert.deepEqual(g.tokenIds, expected, `first difference ${firstDifference(g.tokenIds, expected)}`);
  });
}

test('the same weights in concat, mha, packed gqa and gqa-separate form draw the same images: guidance 5 with the official uncond, with photos and count 2', async () => {
  const request = { prompt: PROMPT, subject, subjectContext: CONTEXT, grounding: 'a small brown dog', cfgWeight: 5, uncond: 'janus' as const, seed: 11, count: 2 };
  const drawn = new Map<AttentionForm, number[][]>();
  for (const form of ATTENTION_FORMS) drawn.set(form, (await ours.get(form)!.generate(request)).images.map((i) => i.imageTokens));
  for (const form of ['mha', 'gqa', 'gqa-separate'] as const) {
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(drawn.get(form)![i], drawn.get('concat')![i], `${form} image ${i}: first difference ${firstDifference(drawn.get(form)![i], drawn.get('concat')![i])}`);
    }
  }
});

test('gqa: transformers.js\' all-masked uncond row is refused before anything runs, naming what to use instead', async () => {
  const p = ours.get('gqa')!;
  let steps = 0;
  await assert.rejects(
    p.generate({ prompt: PROMPT, cfgWeight: 5, uncond: 'transformers-js', onStep: () => void steps++ }),
    (err: unknown) => err instanceof InputError && /GroupQueryAttention/.test(err.message) && /janus/.test(err.message) && !err.message.includes('\n'),
  );
  assert.equal(steps, 0);
  // Guidance 1 has no uncond row: that request runs.
  assert.equal((await p.generate({ prompt: PROMPT, cfgWeight: 1, uncond: 'transformers-js', greedy: true })).images.length, 1);
});

test('gqa: the model refuses a mask GroupQueryAttention would misread (a row attending to none of its past, a gap) instead of running it', async () => {
  const model = ours.get('gqa')!.model;
  const H = model.shape.hidden;
  const prefill = await model.decode(new ort.Tensor('float32', new Float32Array(2 * 4 * H).fill(0.01), [2, 4, H]), model.emptyCache(2), new BigInt64Array(8).fill(1n));
  const step = new ort.Tensor('float32', new Float32Array(2 * H).fill(0.02), [2, 1, H]);
  await assert.rejects(model.decodeFresh(step, prefill.cache, BigInt64Array.from([1n, 1n, 1n, 1n, 1n, 0n, 0n, 0n, 0n, 1n])), /GroupQueryAttention cannot run this attention mask: row 1 attends to none of its past/);
  await assert.rejects(model.decodeFresh(step, prefill.cache, BigInt64Array.from([1n, 0n, 1n, 1n, 1n, 1n, 1n, 1n, 1n, 1n])), /row 0 has a masked gap/);
});

test('without the load-time outputs (whole present fetched), mha, packed gqa and gqa-separate take each row\'s new columns where their op wrote them and draw the same images', async () => {
  const request = { prompt: PROMPT, subject, grounding: 'a small brown dog', cfgWeight: 3, uncond: 'janus' as const, seed: 5, count: 2 };
  for (const form of ['mha', 'gqa', 'gqa-separate'] as const) {
    const plain = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1, kvAppend: false });
    try {
      assert.equal(plain.model.kvAppend, null);
      assert.match(plain.model.kvStrategy, /whole present cache is fetched/);
      const a = (await plain.generate(request)).images.map((i) => i.imageTokens);
      const b = (await ours.get(form)!.generate(request)).images.map((i) => i.imageTokens);
      assert.deepEqual(a, b, form);
    } finally {
      await plain.close();
    }
  }
});

test('mha loaded as the file is (no rewrite): a prompt continued after a cached prefix runs one position at a time and draws the same images', async () => {
  const plain = await Personalizer.load(tinyBundle(1, 'mha'), { intraOpThreads: 1, rewriteLanguageModel: false });
  try {
    assert.equal(plain.model.kvAppend, null);
    const request = { prompt: PROMPT, subject, grounding: 'a small brown dog', cfgWeight: 3, uncond: 'janus' as const, seed: 5 };
    const a = (await plain.generate(request)).images.map((i) => i.imageTokens);
    const b = (await ours.get('mha')!.generate(request)).images.map((i) => i.imageTokens);
    assert.deepEqual(a, b);
  } finally {
    await plain.close();
  }
});
