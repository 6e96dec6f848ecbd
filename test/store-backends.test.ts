import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findRedisServer, startRedisServer } from './helpers/redis-server.ts';
import { IdLists, SQLITE_FILE, createStores, normalizePhoto, openStore, openStores } from '../src/store/index.ts';
import { A, B, C, G1, G2, CH, freshDir, storeTestRoot, withStores, photo, dump } from './helpers/store-fixtures.ts';

// The store itself on both backends: SQLite (open, values round-trip, persistence across reopen), shared Stores, id lists, and Redis.

test('openStore creates the folder and bot.sqlite; Buffers and odd strings round-trip exactly', async () => {
  const dataDir = freshDir();
  const store = await openStore({ dataDir });
  try {
    assert.equal(store.backend, 'sqlite');
    assert.equal(store.location, join(dataDir, SQLITE_FILE));
    assert.ok((await stat(store.location)).isFile());
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const random = Buffer.from(Array.from({ length: 100_003 }, (_, i) => (i * 2654435761) >>> 24));
    const strings = [':base64:AAAA', '::x', ':', '', 'é🙂\u0000\n"\\'];
    await store.photos.set('k', { every, random, strings, n: 1.5, nested: [{ b: every.subarray(3, 9) }] });
    const back = await store.photos.get('k');
    assert.ok(Buffer.isBuffer(back.every));
    assert.ok(back.every.equals(every));
    assert.ok(back.random.equals(random));
    assert.ok(back.nested[0].b.equals(every.subarray(3, 9)));
    assert.deepEqual(back.strings, strings);
    assert.equal(back.n, 1.5);
    // Namespaces are separate.
    assert.equal(await store.jobs.get('k'), undefined);
    assert.deepEqual(await store.keys('photos'), ['k']);
  } finally {
    await store.close();
  }
  await store.close(); // idempotent
  await assert.rejects(store.photos.get('k'));
});

test('SQLite persistence: subjects, photos, groundings and jobs survive close and reopen', async () => {
  const dataDir = freshDir();
  const p = await photo(21);
  const expected = await normalizePhoto(p);
  let subjectId: string;
  let jobId: string;
  const key = { userId: A, modelId: 'janus-1.3b', photoHashes: [expected.hash], name: 'Rex', context: 'a corgi' };
  {
    const s = await openStores({ dataDir });
    const rex = await s.subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [p], context: 'a corgi' });
    await s.subjects.share(A, G1, 'rex');
    subjectId = rex.id;
    await s.groundings.put(key, { text: 'a small dog', tokenIds: [1, 2, 3], ms: 12.5 });
    const job = await s.jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'at the beach', seed: 7, options: { cfgWeight: 5, count: 2 }, subjectId });
    await s.jobs.update(job.id, { status: 'done', messageId: '700000000000000001' });
    jobId = job.id;
    await s.close();
  }
  {
    const s = await openStores({ dataDir });
    try {
      const rex = await s.subjects.get(B, G1, 'rex');
      assert.equal(rex.id, subjectId);
      assert.equal(rex.context, 'a corgi');
      const [bytes] = await s.subjects.getPhotos(rex);
      assert.ok(bytes.equals(expected.data));
      assert.deepEqual((await s.subjects.suggest(A, G1, 'r')).map((x) => x.value), [subjectId]);
      const g = await s.groundings.get(key);
      assert.deepEqual(g && { text: g.text, tokenIds: g.tokenIds, ms: g.ms }, { text: 'a small dog', tokenIds: [1, 2, 3], ms: 12.5 });
      const job = await s.jobs.get(jobId);
      assert.equal(job?.status, 'done');
      assert.equal(job?.messageId, '700000000000000001');
      assert.deepEqual(job?.options, { cfgWeight: 5, count: 2 });
      assert.ok(typeof job?.finishedAt === 'number');
      assert.deepEqual((await s.jobs.listByUser(A)).map((j) => j.id), [jobId]);
    } finally {
      await s.close();
    }
  }
});

test('id lists: add keeps order and skips duplicates, remove deletes an emptied list, concurrent changes are all kept', async () => {
  await withStores(async ({ store }) => {
    const lists = new IdLists(store, 'jobs');
    await lists.add('u:x', 'a');
    await lists.add('u:x', 'b');
    await lists.add('u:x', 'a');
    assert.deepEqual(await lists.list('u:x'), ['a', 'b']);
    await lists.remove('u:x', ['a', 'zz']);
    assert.deepEqual(await lists.list('u:x'), ['b']);
    await lists.remove('u:x', ['b']);
    assert.deepEqual(await lists.list('u:x'), []);
    assert.equal(await store.jobs.has('u:x'), false, 'an empty list is deleted');
    const ids = Array.from({ length: 20 }, (_, i) => `id${i}`);
    await Promise.all(ids.map((id) => lists.add('u:y', id)));
    assert.deepEqual((await lists.list('u:y')).sort(), [...ids].sort());
    await Promise.all(ids.slice(0, 10).map((id) => lists.remove('u:y', [id])));
    assert.deepEqual((await lists.list('u:y')).sort(), ids.slice(10).sort());
    await lists.update('u:y', (list) => list.filter((id) => id !== 'id15'));
    assert.equal((await lists.list('u:y')).length, 9);
    await lists.drop('u:y');
    assert.equal(await store.jobs.has('u:y'), false);
  });
});

test('createStores over an existing Store shares it; unknown namespaces are refused', async () => {
  const store = await openStore({ dataDir: freshDir() });
  try {
    const s = createStores(store);
    assert.equal(s.store, store);
    assert.throws(() => store.ns('nope' as never), /unknown store namespace/);
    await s.subjects.save({ ownerId: A, guildId: null, name: 'x', photos: [await photo(32)] });
    assert.equal(await s.photos.count(), 1);
  } finally {
    await store.close();
  }
});

test('Redis backend: same behaviour, exact photo bytes, survives reopen', async (t) => {
  const binary = await findRedisServer();
  if (!binary) {
    t.skip('redis-server is not installed (apt-get install -y redis-server)');
    return;
  }
  const dir = await mkdtemp(join(storeTestRoot(), 'redis-'));
  const redis = await startRedisServer(binary);
  const url = redis.url;
  try {
    const p = await photo(33);
    const expected = await normalizePhoto(p);
    let rexId: string;
    {
      const s = await openStores({ dataDir: dir, redisUrl: url });
      assert.equal(s.store.backend, 'redis');
      assert.equal(s.store.location, `${url}`.replace(/\/?$/, ''));
      const rex = await s.subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [p, p], context: ':base64:not bytes' });
      rexId = rex.id;
      await s.subjects.share(A, G1, 'rex');
      await s.subjects.save({ ownerId: B, guildId: G1, name: 'Bob', photos: [p] });
      await s.jobs.create({ id: 'redisjob0001', ownerId: A, guildId: G1, channelId: CH, prompt: 'x', seed: 1, options: {} });
      await s.groundings.put({ userId: A, modelId: 'm', photoHashes: rex.photoHashes }, { text: 't', tokenIds: [1], ms: 1 });
      assert.equal(await s.photos.count(), 1);
      assert.deepEqual((await s.store.keys('jobs')).sort(), ['j:redisjob0001', `u:${A}`]);
      await s.close();
    }
    {
      const s = await openStores({ dataDir: dir, redisUrl: url });
      try {
        const rex = await s.subjects.get(B, G1, 'rex');
        assert.equal(rex.id, rexId);
        assert.equal(rex.context, ':base64:not bytes');
        const [bytes] = await s.subjects.getPhotos(rex);
        assert.ok(Buffer.isBuffer(bytes) && bytes.equals(expected.data));
        assert.deepEqual((await s.subjects.list(C, G2)).length, 0);
        assert.equal((await s.jobs.get('redisjob0001'))?.prompt, 'x');
        const result = await s.forgetUser(A);
        assert.deepEqual(result, { subjects: 1, jobs: 1, groundings: 1, photos: 0 });
        assert.ok((await dump(s.store)).every((e) => !e.text.includes(A)));
        assert.equal(await s.photos.count(), 1, "B's subject still uses the photo");
      } finally {
        await s.close();
      }
    }
    await assert.rejects(openStore({ dataDir: dir, redisUrl: 'redis://127.0.0.1:1', connectTimeoutMs: 1000 }), /Could not connect to Redis/);
  } finally {
    await redis.stop();
  }
});
