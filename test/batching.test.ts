import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { KvCapacity } from '../src/model/kv-capacity.ts';
import { CancelledError } from '../src/errors.ts';
import { Personalizer, type GenerateRequest } from '../src/pipeline/personalizer.ts';
import { ATTENTION_FORMS, removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

after(() => removeTinyBundles());

// Every language-model form: our Concat graph and the public export's MultiHeadAttention and
// GroupQueryAttention (which places new rows by the mask's count of ones, not at the last column).
for (const form of ATTENTION_FORMS) describe(`${form} attention`, () => {
let p: Personalizer;
before(async () => {
  p = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1, maxBatchRows: 8 });
});
after(async () => {
  await p?.close();
});
// GroupQueryAttention cannot run transformers.js' all-masked uncond row: it gets the official one.
const unattendedUncond = form.startsWith('gqa') ? 'janus' : 'transformers-js';

const tokens = async (request: GenerateRequest) => (await p.generate(request)).images.map((i) => i.imageTokens);

async function subject() {
  const png = await sharp({ create: { width: 160, height: 100, channels: 3, background: { r: 180, g: 60, b: 20 } } })
    .composite([{ input: { create: { width: 40, height: 30, channels: 3, background: { r: 20, g: 200, b: 90 } } }, left: 30, top: 20 }])
    .png()
    .toBuffer();
  return p.prepareImages([{ bytes: png, name: 'rex.png' }]);
}

test('jobs that overlap share decoder steps, and each draws exactly the image it draws alone', async () => {
  const s = await subject();
  // Different prompt lengths (one with a photo: ~580 tokens longer), seeds, guidance, sampling, counts.
  const a: GenerateRequest = { prompt: 'a dog on the moon', seed: 1 };
  const b: GenerateRequest = { prompt: 'the same dog asleep on a red sofa in a sunny room', subject: s, grounding: 'a small brown dog', seed: 2, cfgWeight: 3, topK: 40 };
  const c: GenerateRequest = { prompt: 'a cat', seed: 3, count: 2, uncond: unattendedUncond, temperature: 0.7 };
  const d: GenerateRequest = { prompt: 'a mug', greedy: true, cfgWeight: 1 };
  const alone = [];
  for (const r of [a, b, c, d]) alone.push(await tokens(r));

  const before = p.batchStats();
  let lateStarted: Promise<number[][]> | null = null;
  let lateStarted2: Promise<number[][]> | null = null;
  const together = await Promise.all([
    tokens({
      ...a,
      onStep: (done) => {
        // c joins a batch already 100 steps in, d once the others are well along.
        if (done === 100) lateStarted = tokens(c);
        if (done === 300) lateStarted2 = tokens(d);
      },
    }),
    tokens(b),
  ]);
  const late = await lateStarted!;
  const late2 = await lateStarted2!;
  const after = p.batchStats();
  assert.ok(after.maxJobs >= 3, `at most ${after.maxJobs} jobs shared a step`);
  const stepsSaved = after.jobSteps - before.jobSteps - (after.steps - before.steps);
  assert.ok(stepsSaved > 576, `only ${stepsSaved} job-steps were shared`);

  assert.deepEqual(together[0], alone[0]);
  assert.deepEqual(together[1], alone[1]);
  assert.deepEqual(late, alone[2]);
  assert.deepEqual(late2, alone[3]);
});

test('cancelling one job of a batch stops only that one; the others still match their solo runs', async () => {
  const a: GenerateRequest = { prompt: 'a lighthouse at night', seed: 7 };
  const b: GenerateRequest = { prompt: 'a red bicycle', seed: 8, count: 2 };
  const soloA = await tokens(a);
  const ac = new AbortController();
  const cancelled = tokens({ ...b, signal: ac.signal, onStep: (done) => void (done === 50 && ac.abort()) });
  const kept = tokens(a);
  await assert.rejects(cancelled, CancelledError);
  assert.deepEqual(await kept, soloA);
});

test('a job whose rows exceed the batch waits for room and still runs', async () => {
  const small = await Personalizer.load(tinyBundle(1, form), { intraOpThreads: 1, maxBatchRows: 2 });
  try {
    const solo = (await small.generate({ prompt: 'a kite', seed: 5, count: 2 })).images.map((i) => i.imageTokens);
    const [x, y] = await Promise.all([small.generate({ prompt: 'a boat', seed: 6 }), small.generate({ prompt: 'a kite', seed: 5, count: 2 })]);
    assert.equal(x.images.length, 1);
    assert.deepEqual(y.images.map((i) => i.imageTokens), solo);
    assert.equal(small.batchStats().maxJobs, 1, 'a 4-row job never shared a 2-row batch');

    // A job cancelled while it waits for room rejects at once, not when room frees.
    const running = small.generate({ prompt: 'a boat', seed: 6 });
    const ac = new AbortController();
    const waiting = small.generate({ prompt: 'a kite', seed: 5, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const t0 = performance.now();
    await assert.rejects(waiting, CancelledError);
    const rejectedAfter = performance.now() - t0;
    const doneAfter = (await running, performance.now() - t0);
    assert.ok(rejectedAfter < doneAfter, 'the waiting job was dropped before the running one finished');
  } finally {
    await small.close();
  }
});

test('a row computes the same whatever the cache capacity (multiples of 16) and whatever row is next to it (what batching relies on)', async () => {
  const model = p.model;
  const H = model.shape.hidden;
  const noise = (n: number, seed: number) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2);
  };
  const prefill = async (len: number, seed: number) => {
    const mask = new BigInt64Array(len).fill(1n);
    return { mask, ...(await model.decode(new ort.Tensor('float32', noise(len * H, seed), [1, len, H]), model.emptyCache(1), mask)) };
  };
  const row = await prefill(300, 1);
  const other = await prefill(123, 3);
  const step = noise(H, 2);
  const results: Float32Array[] = [];
  for (const headroom of [1, 20, 64, 200]) {
    const alone = KvCapacity.fromCache(row.cache, row.mask, [0], 16, headroom);
    assert.equal(alone.capacity % 16, 0);
    const out = await model.decodeFresh(new ort.Tensor('float32', step, [1, 1, H]), alone.past(), alone.stepMask());
    results.push(out.hidden.data as Float32Array);
    const pair = KvCapacity.concat([{ kv: alone }, { kv: KvCapacity.fromCache(other.cache, other.mask, [0], 16, headroom) }], 16, headroom);
    const both = new Float32Array(2 * H);
    both.set(step);
    both.set(noise(H, 4), H);
    const batched = await model.decodeFresh(new ort.Tensor('float32', both, [2, 1, H]), pair.past(), pair.stepMask());
    assert.deepEqual((batched.hidden.data as Float32Array).subarray(0, H), out.hidden.data as Float32Array, `next to another row, headroom ${headroom}`);
  }
  for (const r of results.slice(1)) assert.deepEqual(r, results[0]);
});

test('KvCapacity writes each new position into its row and grows the mask with it', async () => {
  const model = p.model;
  const H = model.shape.hidden;
  const len = 10;
  const mask = new BigInt64Array(len).fill(1n);
  const pre = await model.decode(new ort.Tensor('float32', new Float32Array(len * H).fill(0.05), [1, len, H]), model.emptyCache(1), mask);
  const kv = KvCapacity.fromCache(pre.cache, mask, [0, 0], 16, 3);
  assert.deepEqual([kv.rows, kv.capacity, kv.lengths], [2, 16, [10, 10]]);
  const stepMask = kv.stepMask();
  assert.deepEqual([...stepMask.subarray(0, 17)].map(Number), [...new Array(10).fill(1), 0, 0, 0, 0, 0, 0, 1]);
  const out = await model.decodeFresh(new ort.Tensor('float32', new Float32Array(2 * H).fill(0.1), [2, 1, H]), kv.past(), stepMask);
  kv.push(out.fresh);
  assert.deepEqual(kv.lengths, [11, 11]);
  const name = Object.keys(out.fresh)[0];
  const [, h, , d] = kv.past()[name].dims as number[];
  const data = kv.past()[name].data as Float32Array;
  const fresh = out.fresh[name].data as Float32Array;
  for (let head = 0; head < h; head++) assert.deepEqual(data.subarray((head * 16 + 10) * d, (head * 16 + 11) * d), fresh.subarray(head * d, (head + 1) * d));
  assert.equal(kv.stepMask()[10], 1n);
});

});

test('KvCapacity keeps float16 caches (the CUDA default dtypes) as float16, rows placed and grown like float32', () => {
  const h = 2;
  const d = 4;
  const len = 3;
  const cache = {
    'past_key_values.0.key': new ort.Tensor('float16', Uint16Array.from({ length: 2 * h * len * d }, (_, i) => 1000 + i), [2, h, len, d]),
  };
  const mask = BigInt64Array.from([1n, 1n, 1n, 0n, 0n, 0n]);
  const kv = KvCapacity.fromCache(cache, mask, [1, 0], 16, 2);
  const past = kv.past()['past_key_values.0.key'];
  assert.equal(past.type, 'float16');
  assert.ok(past.data instanceof Uint16Array);
  assert.deepEqual(past.dims, [2, h, 16, d]);
  // Output row 0 is source row 1, head 1, column 2.
  assert.equal((past.data as Uint16Array)[(1 * 16 + 2) * d], 1000 + ((1 * h + 1) * len + 2) * d);
  assert.deepEqual([...kv.stepMask().subarray(0, 17)].map(Number), [0, 0, 0, ...new Array(13).fill(0), 1]);
  kv.push({ 'past_key_values.0.key': new ort.Tensor('float16', Uint16Array.from({ length: 2 * h * d }, (_, i) => 7 + i), [2, h, 1, d]) });
  const grown = kv.past()['past_key_values.0.key'].data as Uint16Array;
  // Row 0, head 1, column 3 holds fresh row 0, head 1.
  assert.equal(grown[(1 * 16 + 3) * d], 7 + (0 * h + 1) * d);
  assert.deepEqual(kv.lengths, [4, 4]);
  const moved = KvCapacity.concat([{ kv, rows: [1] }], 16, 20);
  assert.deepEqual([moved.rows, moved.capacity, moved.lengths], [1, 32, [4]]);
  // Its head 0, column 3 is what fresh row 1, head 0 wrote.
  assert.equal((moved.past()['past_key_values.0.key'].data as Uint16Array)[3 * d], 7 + (1 * h + 0) * d);
});
