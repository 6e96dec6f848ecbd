import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImageInputError } from '../src/images/errors.ts';
import { normalizePhoto } from '../src/store/index.ts';
import { A, B, C, G1, G2, withStores, photo, dump, rejectsInput } from './helpers/store-fixtures.ts';

// Saved subjects: validation, visibility across users and servers, who may change them, names, limits, crash safety, autocomplete.

test('subjects: validation messages', async () => {
  await withStores(async ({ subjects }) => {
    const p = await photo(6);
    const save = (name: string, photos: Buffer[] = [p], context?: string) =>
      subjects.save({ ownerId: A, guildId: G1, name, photos, context });
    await rejectsInput(save('   '), 'The subject needs a name.');
    await rejectsInput(save('x'.repeat(33)), 'The name is longer than 32 characters.');
    await rejectsInput(save('bad\u0007name'), 'The name contains characters that cannot be shown.');
    await rejectsInput(save('\u200d'), 'The name contains characters that cannot be shown.');
    await rejectsInput(save('rex', []), 'Attach 1 to 4 photos of the subject.');
    await rejectsInput(save('rex', [p, p, p, p, p]), 'Attach 1 to 4 photos of the subject.');
    await rejectsInput(save('rex', [p], 'c'.repeat(501)), 'The context is longer than 500 characters.');
    await assert.rejects(save('rex', [Buffer.from('GIF89a nope')]), ImageInputError);

    const rex = await save('  Rex   the\tDog ', [p, p], '  a corgi  ');
    assert.equal(rex.name, 'Rex the Dog');
    assert.equal(rex.context, 'a corgi');
    assert.equal(rex.photoHashes.length, 1, 'duplicate photos in one save are stored once');
    assert.equal(rex.sharedIn, null);
    assert.equal(rex.guildId, G1);
    assert.match(rex.id, /^[A-Za-z0-9_-]{12}$/);
    const emoji = await save('👨‍👩‍👧 family'); // ZWJ sequences are fine
    assert.equal(emoji.name, '👨‍👩‍👧 family');
    const blank = await save('no context', [p], '   ');
    assert.equal('context' in blank, false);
  });
});

test('subjects: visibility across two users and two servers', async () => {
  await withStores(async ({ subjects }) => {
    const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [await photo(7)] });
    const mia = await subjects.save({ ownerId: A, guildId: null, name: 'Mia', photos: [await photo(8)] });
    const bob = await subjects.save({ ownerId: B, guildId: G2, name: 'Bob', photos: [await photo(9)] });

    // Owner sees own subjects everywhere, including DMs; by id and by name (case-insensitive).
    for (const g of [G1, G2, null]) {
      assert.deepEqual((await subjects.list(A, g)).map((s) => s.name), ['Mia', 'Rex']);
      assert.equal((await subjects.get(A, g, 'rex')).id, rex.id);
      assert.equal((await subjects.get(A, g, mia.id)).name, 'Mia');
    }
    // Not shared: invisible to others, even by id.
    await rejectsInput(subjects.get(B, G1, 'rex'), 'You have no subject named “rex”.');
    await rejectsInput(subjects.get(B, G1, rex.id), /deleted or is not shared in this server/);

    await subjects.share(A, G1, 'rex');
    assert.deepEqual((await subjects.list(B, G1)).map((s) => s.name), ['Bob', 'Rex']);
    assert.equal((await subjects.get(B, G1, 'REX')).id, rex.id);
    assert.equal((await subjects.get(B, G1, rex.id)).id, rex.id);
    assert.equal((await subjects.get(C, G1, 'rex')).id, rex.id);
    // Never another server's, nor in DMs.
    assert.deepEqual((await subjects.list(B, G2)).map((s) => s.name), ['Bob']);
    await rejectsInput(subjects.get(B, G2, rex.id), /deleted or is not shared in this server/);
    await rejectsInput(subjects.get(C, null, 'rex'), /You have no subject named/);
    assert.deepEqual(await subjects.list(C, null), []);
    // B's own subject is not visible to A in G2 (not shared).
    await rejectsInput(subjects.get(A, G2, bob.id), /deleted or is not shared in this server/);

    // Moving the share to G2 removes it from G1.
    await subjects.share(A, G2, rex.id);
    assert.deepEqual((await subjects.list(C, G1)).map((s) => s.name), []);
    assert.deepEqual((await subjects.list(C, G2)).map((s) => s.name), ['Rex']);
    await rejectsInput(subjects.share(A, null, 'rex'), 'Subjects can only be shared in a server.');
    // Others cannot share, rename or edit it.
    await rejectsInput(subjects.share(C, G2, rex.id), 'That subject belongs to someone else.');
    await rejectsInput(subjects.rename(C, G2, 'rex', 'mine'), 'That subject belongs to someone else.');
    await rejectsInput(subjects.setContext(C, G2, 'rex', 'x'), 'That subject belongs to someone else.');
    // A name shared by two owners in one server would be ambiguous: refused.
    const other = await subjects.save({ ownerId: B, guildId: G2, name: 'rex', photos: [await photo(10)] });
    await rejectsInput(subjects.share(B, G2, other.id), 'Another subject named “Rex” is already shared in this server; rename yours first.');
    // B's own "rex" wins over the shared one for B.
    assert.equal((await subjects.get(B, G2, 'rex')).id, other.id);
  });
});

test('subjects: delete and unshare rules (owner, Manage Server where shared)', async () => {
  await withStores(async ({ subjects, photos }) => {
    const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [await photo(11)] });
    await subjects.share(A, G1, 'Rex');

    // A plain member cannot delete or unshare.
    await rejectsInput(subjects.delete(B, G1, 'rex'), 'That subject belongs to someone else.');
    await rejectsInput(subjects.unshare(B, G1, 'rex'), 'That subject belongs to someone else.');
    // Manage Server in another server gives nothing (it is not even visible there).
    await rejectsInput(subjects.delete(B, G2, rex.id, { canManageGuild: true }), /deleted or is not shared in this server/);
    // Manage Server where it is shared: may unshare...
    const unshared = await subjects.unshare(B, G1, 'rex', { canManageGuild: true });
    assert.equal(unshared.sharedIn, null);
    assert.deepEqual(await subjects.list(B, G1), []);
    // ...and once unshared it is out of their reach.
    await rejectsInput(subjects.delete(B, G1, rex.id, { canManageGuild: true }), /deleted or is not shared in this server/);
    await rejectsInput(subjects.unshare(A, G1, 'rex'), '“Rex” is not shared.');

    // Shared again: a manager may delete it; its photo goes with it.
    await subjects.share(A, G1, 'rex');
    const deleted = await subjects.delete(B, G1, 'rex', { canManageGuild: true });
    assert.equal(deleted.id, rex.id);
    assert.deepEqual(await subjects.list(A, G1), []);
    assert.equal(await photos.count(), 0);
    await rejectsInput(subjects.delete(A, G1, 'rex'), 'You have no subject named “rex”.');

    // The owner may delete their own anywhere, also from DMs; unshare from DMs too.
    await subjects.save({ ownerId: A, guildId: G1, name: 'Mia', photos: [await photo(12)] });
    await subjects.share(A, G1, 'mia');
    assert.equal((await subjects.unshare(A, null, 'mia')).sharedIn, null);
    await subjects.delete(A, null, 'mia');
    assert.equal(await subjects.count(A), 0);
  });
});

test('subjects: rename, duplicate names, context', async () => {
  await withStores(async ({ subjects }) => {
    const p = await photo(13);
    const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [p] });
    await subjects.save({ ownerId: A, guildId: G1, name: 'Mia', photos: [p] });
    await rejectsInput(subjects.save({ ownerId: A, guildId: G2, name: ' rEx ', photos: [p] }), 'You already have a subject named “Rex”.');
    await rejectsInput(subjects.save({ ownerId: A, guildId: G2, name: 'ＲＥＸ', photos: [p] }), 'You already have a subject named “Rex”.');
    // Another user may use the same name.
    await subjects.save({ ownerId: B, guildId: G1, name: 'Rex', photos: [p] });

    await rejectsInput(subjects.rename(A, G1, 'rex', 'MIA'), 'You already have a subject named “Mia”.');
    const renamed = await subjects.rename(A, G1, 'rex', 'REX');
    assert.equal(renamed.name, 'REX'); // a change of case is allowed
    assert.equal(renamed.id, rex.id);
    assert.ok(renamed.updatedAt >= rex.updatedAt);
    const moved = await subjects.rename(A, G1, rex.id, 'Rexy');
    assert.equal((await subjects.get(A, G1, 'rexy')).id, rex.id);
    await rejectsInput(subjects.get(A, G1, 'rex'), 'You have no subject named “rex”.');
    assert.equal(moved.createdAt, rex.createdAt);
    await rejectsInput(subjects.rename(A, G1, 'nobody', 'x'), 'You have no subject named “nobody”.');
    await rejectsInput(subjects.rename(A, G1, 'rexy', ''), 'The subject needs a name.');

    const withContext = await subjects.setContext(A, G1, 'rexy', ' a corgi ');
    assert.equal(withContext.context, 'a corgi');
    const cleared = await subjects.setContext(A, G1, 'rexy', undefined);
    assert.equal('context' in cleared, false);
  });
});

test('subjects: per-user limit of 20 with a clear message; others unaffected', async () => {
  await withStores(async ({ subjects }) => {
    assert.equal(subjects.maxPerUser, 20);
    const p = await photo(14);
    for (let i = 1; i <= 20; i++) await subjects.save({ ownerId: A, guildId: G1, name: `s${i}`, photos: [p] });
    await rejectsInput(
      subjects.save({ ownerId: A, guildId: G1, name: 's21', photos: [p] }),
      'You already have 20 saved subjects, the most allowed; delete one before saving another.',
    );
    await subjects.save({ ownerId: B, guildId: G1, name: 's21', photos: [p] });
    await subjects.delete(A, G1, 's1');
    await subjects.save({ ownerId: A, guildId: G1, name: 's21', photos: [p] });
    assert.equal(await subjects.count(A), 20);
  });
});

test('subjects: concurrent saves of one user respect the limit and unique names', async () => {
  await withStores(
    async ({ subjects }) => {
      const p = await photo(15);
      const results = await Promise.allSettled(
        ['a', 'b', 'c', 'd', 'A'].map((name) => subjects.save({ ownerId: A, guildId: G1, name, photos: [p] })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
      assert.equal(await subjects.count(A), 3);
      const names = (await subjects.list(A, G1)).map((s) => s.name.toLowerCase());
      assert.equal(new Set(names).size, 3);
    },
    { maxSubjectsPerUser: 3 },
  );
});

test('subjects: a failed write leaves nothing behind', async () => {
  await withStores(async ({ store, subjects, photos }) => {
    const keep = await subjects.save({ ownerId: A, guildId: G1, name: 'keep', photos: [await photo(16)] });
    const before = await dump(store);
    const set = store.subjects.set.bind(store.subjects);
    store.subjects.set = (async (key: string, value: unknown, ttl?: number) => {
      if (key.startsWith('s:')) throw new Error('disk full');
      return set(key, value, ttl);
    }) as typeof store.subjects.set;
    await assert.rejects(
      subjects.save({ ownerId: A, guildId: G1, name: 'lost', photos: [await photo(17), await photo(16)] }),
      /disk full/,
    );
    store.subjects.set = set as typeof store.subjects.set;
    assert.deepEqual(await dump(store), before, 'store exactly as before the failed save');
    assert.equal(await photos.count(), 1);
    assert.deepEqual((await subjects.list(A, G1)).map((s) => s.id), [keep.id]);
    assert.deepEqual(await photos.refs(keep.photoHashes[0]), [`subject:${keep.id}`]);
  });
});

test('subjects: same photo in two subjects is stored once and lives until the last one is deleted', async () => {
  await withStores(async ({ subjects, photos }) => {
    const p = await photo(18);
    const q = await photo(19);
    const a = await subjects.save({ ownerId: A, guildId: G1, name: 'one', photos: [p, q] });
    const b = await subjects.save({ ownerId: B, guildId: G1, name: 'two', photos: [p] });
    assert.equal(a.photoHashes[0], b.photoHashes[0]);
    assert.equal(await photos.count(), 2);
    await subjects.delete(A, G1, 'one');
    assert.equal(await photos.count(), 1, 'the shared photo stays for B');
    assert.ok((await subjects.getPhotos(b))[0].equals((await normalizePhoto(p)).data));
    await subjects.delete(B, G1, 'two');
    assert.equal(await photos.count(), 0);
  });
});

test('subjects: suggest() for autocomplete', async () => {
  await withStores(async ({ store, subjects }) => {
    const p = await photo(20);
    for (const name of ['rex', 'Rexy', 'T-Rex', 'mia', 'Bob']) await subjects.save({ ownerId: A, guildId: G1, name, photos: [p] });
    const shared = await subjects.save({ ownerId: B, guildId: G1, name: 'Rexford', photos: [p] });
    await subjects.share(B, G1, 'rexford');

    const all = await subjects.suggest(A, G1, '');
    assert.deepEqual(all.map((s) => s.name), ['Bob', 'mia', 'rex', 'Rexy', 'T-Rex', 'Rexford (shared)']);
    const rex = await subjects.suggest(A, G1, ' REX', { ownerLabel: (id) => (id === B ? 'bea' : undefined) });
    // own first; within a group prefix matches before substring matches
    assert.deepEqual(rex.map((s) => s.name), ['rex', 'Rexy', 'T-Rex', 'Rexford (shared by bea)']);
    assert.equal(rex[3].value, shared.id);
    assert.deepEqual(await subjects.suggest(A, G2, 'rex').then((l) => l.map((s) => s.name)), ['rex', 'Rexy', 'T-Rex']);
    assert.deepEqual(await subjects.suggest(C, G2, ''), []);

    // Writes invalidate the in-memory index.
    await subjects.rename(A, G1, 'bob', 'Robert');
    assert.ok((await subjects.suggest(A, G1, 'rob')).some((s) => s.name === 'Robert'));
    await subjects.unshare(B, G1, 'rexford');
    assert.equal((await subjects.suggest(A, G1, 'rexf')).length, 0);

    // At most 25, names at most 100 characters; fast once warm.
    for (let i = 0; i < 30; i++) await subjects.save({ ownerId: C, guildId: G1, name: `pet ${String(i).padStart(2, '0')}`, photos: [p] }).catch(() => {});
    const many = await subjects.suggest(C, G1, 'pet');
    assert.equal(many.length, 20); // C's limit is 20
    await subjects.share(A, G1, 'rex');
    const long = await subjects.suggest(C, G1, '', { ownerLabel: () => 'x'.repeat(200) });
    assert.equal(long.length, 21);
    assert.ok(long.every((s) => s.name.length <= 100));
    // Warm: answered from memory, no store reads at all.
    let reads = 0;
    const get = store.subjects.get.bind(store.subjects);
    store.subjects.get = ((...args: Parameters<typeof get>) => {
      reads++;
      return get(...args);
    }) as typeof store.subjects.get;
    for (let i = 0; i < 100; i++) await subjects.suggest(C, G1, 'pe');
    assert.equal(reads, 0, 'served from memory');
    store.subjects.get = get as typeof store.subjects.get;
  });
});
