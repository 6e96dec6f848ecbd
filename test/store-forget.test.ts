import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePhoto } from '../src/store/index.ts';
import { A, B, G1, CH, withStores, photo, dump } from './helpers/store-fixtures.ts';

// Forgetting: a user's data goes down to the bytes, and deleting a subject takes its copies out of other users' jobs.

test('forgetUser removes everything of that user and nothing of others', async () => {
  await withStores(async ({ store, subjects, photos, groundings, jobs, forgetUser }) => {
    const common = await photo(22); // used by both A and B
    const onlyA = await photo(23);
    const onlyB = await photo(24);
    const a1 = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [common, onlyA], context: 'A context' });
    await subjects.share(A, G1, 'rex');
    await subjects.save({ ownerId: A, guildId: null, name: 'Mia', photos: [onlyA] });
    const b1 = await subjects.save({ ownerId: B, guildId: G1, name: 'Bob', photos: [common, onlyB] });
    await subjects.share(B, G1, 'bob');
    // A job of A on uploaded photos, one of B on uploaded photos.
    const upA = await photos.putPhoto(await photo(25), 'job:jobA1');
    await jobs.create({ id: 'jobA1', ownerId: A, guildId: G1, channelId: CH, prompt: 'a', seed: 1, options: {}, photoHashes: [upA] });
    await jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'b', seed: 2, options: {}, subjectId: a1.id });
    const upB = await photos.putPhoto(await photo(26), 'job:jobB1');
    await jobs.create({ id: 'jobB1', ownerId: B, guildId: G1, channelId: CH, prompt: 'c', seed: 3, options: {}, photoHashes: [upB] });
    await groundings.put({ userId: A, modelId: 'm', photoHashes: a1.photoHashes }, { text: 'A text', tokenIds: [1], ms: 1 });
    await groundings.put({ userId: B, modelId: 'm', photoHashes: b1.photoHashes }, { text: 'B text', tokenIds: [2], ms: 1 });
    // B's grounding of A's shared subject describes A's photos: it goes with them.
    await groundings.put({ userId: B, modelId: 'm', photoHashes: a1.photoHashes }, { text: 'B on rex', tokenIds: [3], ms: 1 });
    const beforeB = (await dump(store)).filter((e) => e.text.includes(B) && !e.text.includes('B on rex'));

    const result = await forgetUser(A);
    assert.deepEqual(result, { subjects: 2, jobs: 2, groundings: 2, photos: 2 });
    assert.equal(await groundings.get({ userId: B, modelId: 'm', photoHashes: a1.photoHashes }), undefined);

    const left = await dump(store);
    assert.deepEqual(left.filter((e) => e.text.includes(A)), [], 'no key or value mentions A');
    assert.ok(!left.some((e) => e.text.includes(a1.id) || e.text.includes('jobA1')));
    assert.equal(await photos.has((await normalizePhoto(onlyA)).hash), false);
    assert.equal(await photos.has(upA), false);
    // Everything else of B is intact, including the photo A and B shared.
    const notGrounding = (e: { ns: string }) => e.ns !== 'groundings';
    assert.deepEqual(left.filter((e) => e.text.includes(B)).filter(notGrounding), beforeB.filter(notGrounding));
    assert.deepEqual((await subjects.list(B, G1)).map((s) => s.name), ['Bob']);
    assert.equal((await subjects.getPhotos(b1)).length, 2);
    assert.equal((await jobs.listByUser(B)).length, 1);
    assert.ok(await photos.has(upB));
    assert.equal((await groundings.get({ userId: B, modelId: 'm', photoHashes: b1.photoHashes }))?.text, 'B text');
    assert.equal(await photos.count(), 3); // common, onlyB, upB
    assert.equal(await subjects.count(A), 0);
    assert.deepEqual((await subjects.list(A, G1)).map((x) => x.name), ['Bob'], 'only what B shares in G1');
    assert.deepEqual((await subjects.suggest(A, G1, '')).map((x) => x.value), [b1.id]);
    assert.deepEqual(await forgetUser(A), { subjects: 0, jobs: 0, groundings: 0, photos: 0 });
  });
});

test("deleting a shared subject removes its name, context and grounding from other users' jobs, not from the owner's", async () => {
  await withStores(async ({ subjects, jobs }) => {
    const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [await photo(27)], context: 'A context' });
    await subjects.share(A, G1, 'rex');
    const copied = { subjectId: rex.id, name: rex.name, context: rex.context, grounding: 'a dog with one ear up' };
    const own = await jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'own', seed: 1, options: {}, ...copied });
    const other = await jobs.create({ ownerId: B, guildId: G1, channelId: CH, prompt: 'other', seed: 2, options: {}, ...copied });
    await subjects.delete(A, G1, 'rex');

    const after = await jobs.get(other.id);
    assert.deepEqual(
      { prompt: after?.prompt, subjectId: after?.subjectId, name: after?.name, context: after?.context, grounding: after?.grounding },
      { prompt: 'other', subjectId: rex.id, name: undefined, context: undefined, grounding: undefined },
    );
    assert.equal((await jobs.get(own.id))?.name, 'Rex');
  });
});
