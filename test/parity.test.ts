/**
 * Parity with transformers.js (@huggingface/transformers, MultiModalityCausalLM) on the same
 * generated bundle: the prompt ids, the greedy image tokens and pixels of text-to-image, the greedy
 * grounding text with photos, and the X-CoT generation step with photos. transformers.js builds the
 * CFG pad row its own way, so the comparisons use uncond: 'transformers-js'; our default 'janus'
 * rows follow the official recipe instead and have no transformers.js counterpart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { MultiModalityCausalLM, RawImage, Tensor } from '@huggingface/transformers';
import { Personalizer, type SubjectImages } from '../src/pipeline/personalizer.ts';
import {
  generationMessages,
  groundingMessages,
  GENERATION_TEMPLATE,
  GROUNDING_TEMPLATE,
  xcotPrompts,
  type SubjectContext,
} from '../src/pipeline/xcot-prompts.ts';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { copyTinyBundle, removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';
import { firstDifference, loadReference, parityPhotos, type Reference } from './helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit on the moon';
const TOKENS = 576;
const CFG = 5;
const CONTEXT: SubjectContext = { name: 'Rex', context: 'he loves the beach' };
const GROUND_TOKENS = 24;

const loaded: Reference[] = [];
const personalizers: Personalizer[] = [];

async function reference(dir: string, dtype: 'fp32' | 'q4' = 'fp32'): Promise<Reference> {
  const ref = await loadReference(dir, dtype);
  loaded.push(ref);
  return ref;
}

async function ours(dir: string): Promise<Personalizer> {
  const p = await Personalizer.load(dir, { intraOpThreads: 1 });
  personalizers.push(p);
  return p;
}

/** What generate_images does before decoding: base generate in image mode, prompt sliced off. */
async function referenceImageTokens(model: any, inputs: Record<string, unknown>): Promise<number[]> {
  model._generation_mode = 'image';
  const base = Object.getPrototypeOf(MultiModalityCausalLM.prototype) as { generate: (o: unknown) => Promise<any> };
  const all = await base.generate.call(model, { ...inputs, min_new_tokens: TOKENS, max_new_tokens: TOKENS, do_sample: false, guidance_scale: CFG });
  const promptLength = (inputs.input_ids as Tensor).dims[1];
  return (all.tolist()[0] as bigint[]).slice(promptLength).map(Number);
}

const ids = (t: Tensor) => Array.from(t.data as BigInt64Array, Number);
const bools = (t: Tensor) => Array.from(t.data as Uint8Array, Number);

let p: Personalizer;
let ref: Reference;
let photos: Buffer[];
let subject: SubjectImages;

before(async () => {
  const dir = tinyBundle(1);
  p = await ours(dir);
  ref = await reference(dir);
  photos = await parityPhotos();
  subject = await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
});

after(async () => {
  for (const p of personalizers) await p.close();
  for (const r of loaded) await r.model.dispose();
  removeTinyBundles();
});

// ---- text-to-image --------------------------------------------------------------------------------

test('text-to-image: the prompt ids equal the processor\'s input_ids', async () => {
  const messages = [{ role: '<|User|>', content: PROMPT }];
  const inputs = await ref.processor(messages, { chat_template: 'text_to_image' });
  const encoded = p.tokenizer.encode(p.tokenizer.render('text_to_image', messages), 0);
  assert.deepEqual(encoded.ids, ids(inputs.input_ids));
  assert.deepEqual(Array.from(encoded.imageMask), bools(inputs.images_seq_mask));
  // The prompt opens the image; the pipeline builds the same prompt for plain text-to-image.
  assert.equal(encoded.ids.at(-1), p.tokenizer.encode('<begin_of_image>', 0).ids[0]);
  const g = await p.generate({ prompt: PROMPT, greedy: true, cfgWeight: 1 });
  assert.equal(g.promptTokens, encoded.ids.length);
});

test('text-to-image: greedy tokens with CFG equal transformers.js, and so do the decoded pixels', async () => {
  const inputs = await ref.processor([{ role: '<|User|>', content: PROMPT }], { chat_template: 'text_to_image' });
  const expected = await referenceImageTokens(ref.model, inputs);
  assert.equal(expected.length, TOKENS);

  const g = await p.generate({ prompt: PROMPT, greedy: true, cfgWeight: CFG, uncond: 'transformers-js' });
  const image = g.images[0];
  assert.deepEqual(image.imageTokens, expected, `first difference ${firstDifference(image.imageTokens, expected)}`);

  const [reference] = await ref.model.generate_images({ ...inputs, min_new_tokens: TOKENS, max_new_tokens: TOKENS, do_sample: false, guidance_scale: CFG });
  assert.ok(reference instanceof RawImage);
  assert.deepEqual([reference.width, reference.height, reference.channels], [image.width, image.height, 3]);
  const { data } = await sharp(image.data).raw().toBuffer({ resolveWithObject: true });
  assert.ok(Buffer.from(reference.data).equals(data), 'our PNG pixels differ from generate_images');
});

// ---- grounding with photos ----------------------------------------------------------------------

interface GroundingReference {
  tokens: number[];
  text: string;
}

let groundingMemo: Promise<GroundingReference> | null = null;

/** transformers.js greedy text for the grounding conversation, with our pixel_values. */
function referenceGrounding(r: Reference, personalizer: Personalizer): Promise<GroundingReference> {
  return (async () => {
    const messages = groundingMessages(xcotPrompts(personalizer.bundle), personalizer.bundle.processor.image_tag, subject.pixels.count, CONTEXT);
    const images = await Promise.all(photos.map((b) => RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
    const inputs = await r.processor(messages, { images, chat_template: GROUNDING_TEMPLATE });
    const pixelValues = new Tensor('float32', subject.pixels.data, [1, subject.pixels.count, 3, 384, 384]);
    const out = await r.model.generate({ ...inputs, pixel_values: pixelValues, max_new_tokens: GROUND_TOKENS, do_sample: false });
    const tokens = (out.tolist()[0] as bigint[]).slice(inputs.input_ids.dims[1]).map(Number);
    return { tokens, text: r.processor.tokenizer.decode(tokens, { skip_special_tokens: true }) };
  })();
}

test('grounding: the processor builds the same ids and image mask as our tokenizer', async () => {
  const messages = groundingMessages(xcotPrompts(p.bundle), p.bundle.processor.image_tag, subject.pixels.count, CONTEXT);
  const images = await Promise.all(photos.map((b) => RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
  const inputs = await ref.processor(messages, { images, chat_template: GROUNDING_TEMPLATE });
  const encoded = p.tokenizer.encode(p.tokenizer.render(GROUNDING_TEMPLATE, messages), subject.pixels.count);
  assert.deepEqual(encoded.ids, ids(inputs.input_ids));
  assert.deepEqual(Array.from(encoded.imageMask), bools(inputs.images_seq_mask));
  assert.equal(encoded.imageMask.reduce((a, b) => a + b, 0), 2 * TOKENS);
  assert.deepEqual(inputs.pixel_values.dims, [1, 2, 3, 384, 384]);
  assert.deepEqual(inputs.images_emb_mask.dims, [1, 2, TOKENS]);
});

test('grounding: greedy ids and text with two photos equal transformers.js generate', async () => {
  groundingMemo ??= referenceGrounding(ref, p);
  const expected = await groundingMemo;
  const eos = p.tokenizer.eos;
  // transformers.js keeps the EOS it stops on; ground() stops before it.
  const expectedIds = expected.tokens.at(-1) === eos ? expected.tokens.slice(0, -1) : expected.tokens;
  const g = await p.ground(subject, CONTEXT, { maxNewTokens: GROUND_TOKENS, greedy: true });
  assert.deepEqual(g.tokenIds, expectedIds, `first difference ${firstDifference(g.tokenIds, expectedIds)}`);
  assert.equal(g.text, expected.text.trim());
  assert.ok(g.tokenIds.length > 0);
});

test('grounding: both stop at the EOS the bundle names; transformers.js keeps it, ground() drops it', async () => {
  groundingMemo ??= referenceGrounding(ref, p);
  const base = (await groundingMemo).tokens;
  // Name a token the greedy run produces a few steps in as EOS, in a copy of the bundle.
  const stopAt = base.findIndex((t, i) => i >= 3 && base.indexOf(t) === i);
  assert.ok(stopAt > 0, `no token to stop at in ${base.join(' ')}`);
  const eos = base[stopAt];
  const dir = copyTinyBundle(1);
  const genPath = join(dir, 'generation_config.json');
  writeFileSync(genPath, JSON.stringify({ ...JSON.parse(readFileSync(genPath, 'utf8')), eos_token_id: eos }));

  const r = await reference(dir);
  const mine = await ours(dir);
  assert.equal(mine.tokenizer.eos, eos);
  const expected = await referenceGrounding(r, mine);
  assert.deepEqual(expected.tokens, base.slice(0, stopAt + 1), 'transformers.js did not stop at the new EOS');
  const g = await mine.ground(subject, CONTEXT, { maxNewTokens: GROUND_TOKENS, greedy: true });
  assert.deepEqual(g.tokenIds, base.slice(0, stopAt));
  assert.equal(g.text, mine.tokenizer.decode(base.slice(0, stopAt)).trim());
});

// ---- X-CoT generation step ------------------------------------------------------------------------

test('X-CoT: generation with photos and grounding equals transformers.js (transformers-js uncond)', async () => {
  const g = await p.ground(subject, CONTEXT, { maxNewTokens: 12, greedy: true });
  const messages = generationMessages(xcotPrompts(p.bundle), p.bundle.processor.image_tag, subject.pixels.count, CONTEXT, g.text, PROMPT);
  const images = await Promise.all(photos.map((b) => RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
  const inputs = await ref.processor(messages, { images, chat_template: GENERATION_TEMPLATE });
  const encoded = p.tokenizer.encode(p.tokenizer.render(GENERATION_TEMPLATE, messages), subject.pixels.count);
  assert.deepEqual(encoded.ids, ids(inputs.input_ids));
  assert.deepEqual(Array.from(encoded.imageMask), bools(inputs.images_seq_mask));

  const pixelValues = new Tensor('float32', subject.pixels.data, [1, subject.pixels.count, 3, 384, 384]);
  const expected = await referenceImageTokens(ref.model, { ...inputs, pixel_values: pixelValues });
  const out = await p.generate({
    prompt: PROMPT,
    subject,
    subjectContext: CONTEXT,
    grounding: g.text,
    greedy: true,
    cfgWeight: CFG,
    uncond: 'transformers-js',
  });
  assert.equal(out.promptTokens, encoded.ids.length);
  assert.deepEqual(out.images[0].imageTokens, expected, `first difference ${firstDifference(out.images[0].imageTokens, expected)}`);
});

// ---- bundle files as transformers.js reads them ---------------------------------------------------

test('transformers.js loads a fp32+q4 fixture with the per-file use_external_data_format map, in both dtypes', async () => {
  const dir = scratchDir('fp32-q4');
  makeBundle({ out: dir, seed: 1, dims: TINY_DIMS, variants: ['fp32', 'q4'] });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.deepEqual(config['transformers.js_config'].use_external_data_format, { 'language_model.onnx': 1 });
  assert.equal(existsSync(join(dir, 'onnx', 'language_model_q4.onnx_data')), false);
  for (const dtype of ['fp32', 'q4'] as const) {
    const r = await reference(dir, dtype);
    const inputs = await r.processor([{ role: '<|User|>', content: PROMPT }], { chat_template: 'default' });
    const out = await r.model.generate({ ...inputs, max_new_tokens: 3, min_new_tokens: 3, do_sample: false });
    assert.equal(out.dims[1], inputs.input_ids.dims[1] + 3, dtype);
  }
  // (With `true` instead, transformers.js would look for an .onnx_data next to every graph it opens;
  // its loader then leaves the missing-file rejection unhandled, so that case is not run here.)
});

test('transformers.js reads the object-form chat_template and builds the same prompt ids as from the list form', async () => {
  const dir = scratchDir('object-templates');
  makeBundle({ out: dir, seed: 1, dims: TINY_DIMS, chatTemplateForm: 'object' });
  const r = await reference(dir);
  const messages = [{ role: '<|User|>', content: PROMPT }];
  for (const name of ['default', 'text_to_image']) {
    const fromObject = await r.processor(messages, { chat_template: name });
    const fromList = await ref.processor(messages, { chat_template: name });
    assert.deepEqual(ids(fromObject.input_ids), ids(fromList.input_ids), name);
    assert.deepEqual(p.tokenizer.encode(p.tokenizer.render(name, messages), 0).ids, ids(fromObject.input_ids), name);
  }
});

test('transformers.js pads the uncond row with generation_config.pad_token_id (<｜▁pad▁｜>), as we do, not its tokenizer\'s pad_token', () => {
  const tokenizer = ref.processor.tokenizer;
  const cfgPad = tokenizer.convert_tokens_to_ids('<｜▁pad▁｜>');
  assert.equal(ref.model.generation_config.pad_token_id, cfgPad);
  assert.equal(p.tokenizer.pad, cfgPad);
  assert.notEqual(tokenizer.pad_token_id, cfgPad, 'the fixture\'s tokenizer pad_token should be another token, as in Janus');
});
