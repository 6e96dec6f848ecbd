import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { loadBundle } from '../src/bundle/load-bundle.ts';
import { JanusModel, type KvCache } from '../src/model/janus-model.ts';
import { KvArena } from '../src/model/kv-arena.ts';
import { planKvAppend } from '../src/model/kv-append-graph.ts';
import { copyTinyBundle, removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';

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
  assert.equal(withAppend.attention, 'concat');
  assert.equal(withAppend.kvAppend.newKeys.length, withAppend.shape.layers);
  assert.equal(withPresent.kvAppend, null);
  assert.ok(readFileSync(path).equals(before));
  const plan = planKvAppend(path, null);
  assert.ok(!('reason' in plan));
  assert.ok(existsSync(plan.path));
  plan.cleanup();
  assert.ok(!existsSync(plan.path), 'without a cache folder the temp copy is removed');
});

test('the rewrite is kept in the cache folder: a second load reads the cache, a changed file is rewritten and its old entry dropped', () => {
  const cache = scratchDir('graph-cache');
  const path = loadBundle(copyTinyBundle(1), {}).graphs.language_model.path;
  const first = planKvAppend(path, cache);
  assert.ok(!('reason' in first) && !first.fromCache);
  const second = planKvAppend(path, cache);
  assert.ok(!('reason' in second) && second.fromCache);
  assert.equal(second.path, first.path);
  assert.deepEqual(second.newKeys, first.newKeys);
  second.cleanup();
  assert.ok(existsSync(second.path), 'a cached rewrite outlives cleanup()');
  assert.equal(readdirSync(cache).length, 1);

  // The same bytes written anew with another mtime: another entry; the old one goes.
  const bytes = readFileSync(path);
  rmSync(path);
  writeFileSync(path, bytes);
  utimesSync(path, new Date(2020, 0, 1), new Date(2020, 0, 1));
  const third = planKvAppend(path, cache);
  assert.ok(!('reason' in third) && !third.fromCache);
  assert.notEqual(third.path, first.path);
  assert.equal(readdirSync(cache).length, 1);
  assert.ok(!existsSync(first.path));
});

test('a graph that cannot be rewritten is remembered in the cache with its reason', () => {
  const cache = scratchDir('graph-cache');
  const path = loadBundle(tinyBundle(1), {}).graphs.gen_head.path;
  const first = planKvAppend(path, cache);
  assert.ok('reason' in first && !first.fromCache);
  const second = planKvAppend(path, cache);
  assert.ok('reason' in second && second.fromCache);
  assert.equal(second.reason, first.reason);
  assert.match(second.reason, /past_key_values/);
});

test('a language model whose present is not Concat(past, new) loads as it is, says why, and decodes the same', async () => {
  // The fixture's graph with layer 0's present key routed through an Identity (as a fused op would hide it).
  const dir = copyTinyBundle(1);
  const bundle = loadBundle(dir, {});
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(bundle.graphs.language_model.path));
  const nodes = model.graph!.node!;
  const concat = nodes.find((n) => n.output?.[0] === 'present.0.key')!;
  concat.output = ['present.0.key.concat'];
  for (const n of nodes) n.input = (n.input ?? []).map((i) => (i === 'present.0.key' ? 'present.0.key.concat' : i));
  nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: ['present.0.key.concat'], output: ['present.0.key'], name: 'hide_concat' }));
  writeFileSync(bundle.graphs.language_model.path, onnx.ModelProto.encode(model).finish());

  const plan = planKvAppend(bundle.graphs.language_model.path, null);
  assert.ok('reason' in plan);
  assert.equal(plan.form, null);
  assert.match(plan.reason, /present\.0\.key comes from Identity/);
  const plain = await JanusModel.load(bundle, { intraOpThreads: 1 });
  try {
    assert.equal(plain.kvAppend, null);
    assert.match(plain.kvAppendReason ?? '', /present\.0\.key/);
    const H = plain.shape.hidden;
    const embeds = new ort.Tensor('float32', noise(2 * 7 * H, 9), [2, 7, H]);
    const mask = new BigInt64Array(2 * 7).fill(1n);
    const a = await plain.decode(embeds, plain.emptyCache(2), mask);
    const b = await withPresent.decode(embeds, withPresent.emptyCache(2), mask);
    assert.deepEqual(a.hidden.data, b.hidden.data);
    const step = new ort.Tensor('float32', noise(2 * H, 10), [2, 1, H]);
    const next = new BigInt64Array(2 * 8).fill(1n);
    const fa = await plain.decodeFresh(step, a.cache, next);
    const fb = await withAppend.decodeFresh(step, b.cache, next);
    for (const name of Object.keys(fb.fresh)) assert.deepEqual(fa.fresh[name].data, fb.fresh[name].data, name);
  } finally {
    await plain.release();
  }
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

test('a broken cache entry (plan.json unreadable) is written anew, not trusted', () => {
  const cache = scratchDir('graph-cache');
  const path = loadBundle(tinyBundle(1), {}).graphs.language_model.path;
  const first = planKvAppend(path, cache);
  assert.ok(!('reason' in first));
  writeFileSync(join(dirname(first.path), 'plan.json'), '{ not json');
  const second = planKvAppend(path, cache);
  assert.ok(!('reason' in second) && !second.fromCache);
  assert.equal(second.path, first.path);
  const third = planKvAppend(path, cache);
  assert.ok(!('reason' in third) && third.fromCache);
});
