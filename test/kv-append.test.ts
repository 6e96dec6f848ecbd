import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { loadBundle } from '../src/bundle/load-bundle.ts';
import { JanusModel, type KvCache } from '../src/engine/janus-model.ts';
import { KvArena } from '../src/engine/kv-arena.ts';
import { planKvAppend } from '../src/engine/kv-append-graph.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

let withAppend: JanusModel;
let withPresent: JanusModel;
before(async () => {
  const bundle = loadBundle(tinyBundle(1), {});
  withAppend = await JanusModel.load(bundle, { intraOpThreads: 1 });
  withPresent = await JanusModel.load(bundle, { intraOpThreads: 1, kvAppend: false });
});
after(async () => {
  await withAppend?.release();
  await withPresent?.release();
  removeTinyBundles();
});

const noise = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2);
};

test('the language model is loaded to output each step’s new KV rows, and the public file is left as it was', () => {
  const path = loadBundle(tinyBundle(1), {}).graphs.language_model.path;
  const before = readFileSync(path);
  assert.ok(withAppend.kvAppend, withAppend.kvAppendReason);
  assert.equal(withAppend.kvAppend.newKeys.length, withAppend.shape.layers);
  assert.equal(withPresent.kvAppend, null);
  assert.ok(readFileSync(path).equals(before));
  const plan = planKvAppend(path);
  assert.ok(!('reason' in plan));
  assert.ok(existsSync(plan.path));
  plan.cleanup();
  assert.ok(!existsSync(plan.path), 'the temp copy is removed');
});

test('a graph without past/present Concat keeps the plain path, with the reason', () => {
  const plan = planKvAppend(loadBundle(tinyBundle(1), {}).graphs.gen_head.path);
  assert.ok('reason' in plan);
  assert.match(plan.reason, /past_key_values/);
});

test('prompt then 40 steps (2 rows): appending the new rows gives exactly the present cache and hidden states, arena or not', async () => {
  const H = withAppend.shape.hidden;
  const len = 23;
  const rows = 2;
  const arena = new KvArena();
  let a: { hidden: ort.Tensor; cache: KvCache } = await withAppend.decode(new ort.Tensor('float32', noise(rows * len * H, 1), [rows, len, H]), withAppend.emptyCache(rows), new BigInt64Array(rows * len).fill(1n));
  let b: { hidden: ort.Tensor; cache: KvCache } = await withPresent.decode(new ort.Tensor('float32', noise(rows * len * H, 1), [rows, len, H]), withPresent.emptyCache(rows), new BigInt64Array(rows * len).fill(1n));
  for (let step = 0; step < 40; step++) {
    const width = len + step + 1;
    const embeds = new ort.Tensor('float32', noise(rows * H, 100 + step), [rows, 1, H]);
    const mask = new BigInt64Array(rows * width).fill(1n);
    a = await withAppend.decode(embeds, a.cache, mask, step % 2 ? arena : undefined);
    b = await withPresent.decode(embeds, b.cache, mask);
    assert.deepEqual(a.hidden.data, b.hidden.data, `hidden at step ${step}`);
  }
  for (const name of Object.keys(b.cache)) {
    assert.deepEqual(a.cache[name].dims, b.cache[name].dims, name);
    assert.deepEqual(a.cache[name].data, b.cache[name].data, name);
  }
});

test('an arena never writes over the cache it was given', async () => {
  const H = withAppend.shape.hidden;
  const arena = new KvArena();
  const first = await withAppend.decode(new ort.Tensor('float32', noise(5 * H, 3), [1, 5, H]), withAppend.emptyCache(1), new BigInt64Array(5).fill(1n));
  const second = await withAppend.decode(new ort.Tensor('float32', noise(H, 4), [1, 1, H]), first.cache, new BigInt64Array(6).fill(1n), arena);
  const snapshot = Object.fromEntries(Object.entries(second.cache).map(([k, t]) => [k, (t.data as Float32Array).slice()]));
  const third = await withAppend.decode(new ort.Tensor('float32', noise(H, 5), [1, 1, H]), second.cache, new BigInt64Array(7).fill(1n), arena);
  for (const [k, t] of Object.entries(second.cache)) assert.deepEqual(t.data, snapshot[k], `${k} changed under its reader`);
  for (const [k, t] of Object.entries(third.cache)) assert.notEqual((t.data as Float32Array).buffer, (second.cache[k].data as Float32Array).buffer);
});
