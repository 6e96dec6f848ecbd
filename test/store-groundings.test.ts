import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroundingCache } from '../src/store/index.ts';
import { A, B, G1, withStores, photo } from './helpers/store-fixtures.ts';

// The grounding cache: keys that isolate users, caps, expiry, deletion with the subject.

test('grounding cache: keys isolate users and change with model, photos, name and context', async () => {
  await withStores(async ({ groundings }) => {
    const h1 = 'a'.repeat(64);
    const h2 = 'b'.repeat(64);
    const key = { userId: A, modelId: 'm1', photoHashes: [h1, h2], name: 'Rex', context: 'a corgi' };
    const put = await groundings.put(key, { text: 'a corgi with a red collar', tokenIds: [5, 6, 7], ms: 42 });
    assert.equal(put.text, 'a corgi with a red collar');
    assert.ok(put.createdAt > 0);
    const hit = await groundings.get({ ...key, photoHashes: [h2, h1], name: ' Rex ', context: 'a corgi ' });
    assert.deepEqual(hit?.tokenIds, [5, 6, 7], 'photo order and surrounding spaces do not matter');
    assert.equal(hit?.ms, 42);

    assert.equal(await groundings.get({ ...key, userId: B }), undefined, 'another user never gets it');
    assert.equal(await groundings.get({ ...key, modelId: 'm2' }), undefined);
    assert.equal(await groundings.get({ ...key, photoHashes: [h1] }), undefined);
    assert.equal(await groundings.get({ ...key, name: 'Rexy' }), undefined);
    assert.equal(await groundings.get({ ...key, context: 'a beagle' }), undefined);
    assert.equal(await groundings.get({ ...key, context: undefined }), undefined);
    assert.notEqual(GroundingCache.digest(key), GroundingCache.digest({ ...key, userId: B }));

    await groundings.put({ ...key, userId: B }, { text: 'B', tokenIds: [], ms: 1 });
    assert.equal(await groundings.deleteForUser(A), 1);
    assert.equal(await groundings.get(key), undefined);
    assert.equal((await groundings.get({ ...key, userId: B }))?.text, 'B');
  });
});

test('grounding cache: per-user cap, expiry, and deletion with the subject', async () => {
  let now = 1_000_000;
  await withStores(
    async ({ groundings, subjects }) => {
      const k = (n: number) => ({ userId: A, modelId: 'm', photoHashes: [String(n).repeat(64).slice(0, 64)] });
      await groundings.put(k(1), { text: '1', tokenIds: [], ms: 1 });
      await groundings.put(k(2), { text: '2', tokenIds: [], ms: 1 });
      await groundings.put(k(3), { text: '3', tokenIds: [], ms: 1 });
      assert.equal(await groundings.get(k(1)), undefined, 'oldest evicted past maxPerUser');
      assert.equal((await groundings.get(k(3)))?.text, '3');
      now += 2_000;
      assert.equal(await groundings.get(k(3)), undefined, 'expired');
      assert.equal(await groundings.cleanup(), 2);

      now = 5_000_000;
      const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [await photo(27)] });
      const key = { userId: A, modelId: 'm', photoHashes: rex.photoHashes, name: 'Rex' };
      await groundings.put(key, { text: 'rex', tokenIds: [], ms: 1 });
      await subjects.delete(A, G1, 'rex');
      assert.equal(await groundings.get(key), undefined, 'deleting a subject drops its owner\u2019s groundings');
    },
    { now: () => now, grounding: { maxPerUser: 2, ttlMs: 1_000 } },
  );
});
