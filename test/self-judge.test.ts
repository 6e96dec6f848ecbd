/**
 * The self-judge (P(yes) from the bundle's own understanding path) against transformers.js'
 * MultiModalityCausalLM run whole on the same prompt and pixels, on the tiny fixture bundle.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RawImage, Tensor } from '@huggingface/transformers';
import { Personalizer, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { JUDGE_QUESTIONS } from '../src/pipeline/self-judge.ts';
import { yesNoTokens } from '../src/pipeline/yes-no-tokens.ts';
import { GROUNDING_TEMPLATE, USER_ROLE } from '../src/pipeline/xcot-prompts.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';
import { loadReference, parityPhotos, type Reference } from './helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit';
const TOLERANCE = 1e-4;

let p: Personalizer;
let ref: Reference;
let photos: Buffer[];
let subject: SubjectImages;
let candidates: Buffer[];

before(async () => {
  const dir = tinyBundle(1);
  p = await Personalizer.load(dir, { intraOpThreads: 1 });
  ref = await loadReference(dir);
  photos = await parityPhotos();
  subject = await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
  const g = await p.generate({ prompt: PROMPT, subject, candidates: 2, seed: 11 });
  candidates = g.images.map((i) => i.data);
});

after(async () => {
  await p.close();
  await ref.model.dispose();
  removeTinyBundles();
});

/** transformers.js: the first token of each spelling, by its own tokenizer; ids both answers share dropped. */
function referenceAnswers(): { yes: number[]; no: number[] } {
  const first = (words: string[]) => new Set(words.map((w) => ref.processor.tokenizer.encode(w, { add_special_tokens: false })[0] as number));
  const yes = first(['Yes', 'yes', 'YES', ' Yes', ' yes', ' YES']);
  const no = first(['No', 'no', 'NO', ' No', ' no', ' NO']);
  const shared = [...yes].filter((id) => no.has(id));
  return { yes: [...yes].filter((id) => !shared.includes(id)).sort((a, b) => a - b), no: [...no].filter((id) => !shared.includes(id)).sort((a, b) => a - b) };
}

/** The whole prompt through transformers.js in one forward pass; P(yes) from the last position's logits. */
async function referenceYes(images: Buffer[], question: string): Promise<number> {
  const content = `${'<image_placeholder>\n'.repeat(images.length)}${question}`;
  const raw = await Promise.all(images.map((b) => RawImage.fromBlob(new Blob([new Uint8Array(b)]))));
  const inputs = await ref.processor([{ role: USER_ROLE, content }], { images: raw, chat_template: GROUNDING_TEMPLATE });
  // Our pixel preparation (Janus' padding), as the parity tests do: the question here is the language side.
  const pixels = await p.prepareImages(images.map((bytes) => ({ bytes })));
  const out = await ref.model({ ...inputs, pixel_values: new Tensor('float32', pixels.pixels.data, [1, images.length, 3, 384, 384]) });
  const [, len, vocab] = out.logits.dims as number[];
  const last = (out.logits.data as Float32Array).subarray((len - 1) * vocab, len * vocab);
  const { yes, no } = referenceAnswers();
  const mass = (ids: number[]) => ids.reduce((s, id) => s + Math.exp(last[id]), 0);
  return mass(yes) / (mass(yes) + mass(no));
}

test('yes/no token ids come from the bundle tokenizer and equal transformers.js tokenizer\'s', () => {
  const ours = yesNoTokens(p.tokenizer);
  assert.deepEqual(ours, referenceAnswers());
  assert.ok(ours.yes.length > 0 && ours.no.length > 0);
  assert.ok(!ours.yes.some((id) => ours.no.includes(id)));
});

test('subject and prompt questions equal transformers.js run whole; the subject prefix comes from the cache', async () => {
  const before = p.cacheStats().prefixHits;
  const judged = await p.judge(subject, candidates, PROMPT);
  // generate() stored the photos' prefix: each candidate's subject question found it.
  assert.equal(p.cacheStats().prefixHits - before, candidates.length);
  const promptQuestion = JUDGE_QUESTIONS.prompt.replace('{prompt}', PROMPT);
  for (const [i, c] of candidates.entries()) {
    const fid = await referenceYes([...photos, c], JUDGE_QUESTIONS.subject);
    const align = await referenceYes([c], promptQuestion);
    assert.ok(Math.abs(judged.fidelity[i] - fid) < TOLERANCE, `candidate ${i} fidelity ${judged.fidelity[i]} vs ${fid}`);
    assert.ok(Math.abs(judged.alignment[i] - align) < TOLERANCE, `candidate ${i} alignment ${judged.alignment[i]} vs ${align}`);
  }
  const photo0 = await referenceYes([photos[0]], promptQuestion);
  assert.ok(Math.abs(judged.photoAlignment[0] - photo0) < TOLERANCE);
  for (const v of [...judged.fidelity, ...judged.alignment, ...judged.photoAlignment]) assert.ok(v > 0 && v < 1);
  // Different candidates are judged on their own pixels.
  assert.notEqual(judged.fidelity[0], judged.fidelity[1]);

  // Cold (nothing cached) splits the prompt the same way: the very same numbers.
  p.clearCaches();
  const cold = await p.judge(subject, candidates, PROMPT);
  assert.deepEqual(cold, judged);
});

test('the builder\'s attention forms (mha, packed gqa, gqa-separate) give the concat form\'s answers: same weights, prefix continued the same', async () => {
  const expected = await p.judge(subject, candidates.slice(0, 1), PROMPT);
  for (const form of ['mha', 'gqa', 'gqa-separate'] as const) {
    const other = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1 });
    try {
      const s = await other.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
      await other.ground(s, {}, { maxNewTokens: 2 });
      const hits = other.cacheStats().prefixHits;
      const judged = await other.judge(s, candidates.slice(0, 1), PROMPT);
      assert.equal(other.cacheStats().prefixHits - hits, 1, `${form}: grounding's prefix was not reused`);
      for (const key of ['fidelity', 'alignment', 'photoAlignment'] as const) {
        judged[key].forEach((v, i) => assert.ok(Math.abs(v - expected[key][i]) < TOLERANCE, `${form} ${key}[${i}] ${v} vs ${expected[key][i]}`));
      }
    } finally {
      await other.close();
    }
  }
});
