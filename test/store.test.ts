import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { findRedisServer, startRedisServer } from './helpers/redis-server.ts';
import { InputError } from '../src/errors.ts';
import { ImageInputError } from '../src/images/errors.ts';
import {
  GroundingCache,
  IdLists,
  NAMESPACES,
  PHOTO_MAX_SIDE,
  SQLITE_FILE,
  createStores,
  normalizePhoto,
  openStore,
  openStores,
  type Store,
  type Stores,
} from '../src/store/index.ts';

// Discord-like ids: users A, B, C; servers G1, G2.
const A = '100000000000000001';
const B = '200000000000000002';
const C = '300000000000000003';
const G1 = '900000000000000001';
const G2 = '900000000000000002';
const CH = '800000000000000001';

let root: string;
let dirCount = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'store-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  return join(root, `data-${++dirCount}`, 'nested');
}

async function withStores<T>(fn: (s: Stores) => Promise<T>, options: Parameters<typeof openStores>[0] | object = {}): Promise<T> {
  const stores = await openStores({ dataDir: freshDir(), ...options });
  try {
    return await fn(stores);
  } finally {
    await stores.close();
  }
}

/** A small deterministic picture; `seed` changes every pixel. */
async function photo(seed: number, opts: { width?: number; height?: number; format?: 'png' | 'jpeg'; orientation?: number } = {}): Promise<Buffer> {
  const width = opts.width ?? 40;
  const height = opts.height ?? 30;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 5 + seed * 37) & 255;
      raw[i + 1] = (y * 7 + seed * 11) & 255;
      raw[i + 2] = (x * y + seed) & 255;
    }
  }
  let img = sharp(raw, { raw: { width, height, channels: 3 } });
  img = opts.format === 'jpeg' ? img.jpeg({ quality: 92 }) : img.png();
  if (opts.orientation) img = img.withMetadata({ orientation: opts.orientation });
  return img.toBuffer();
}

/** Every key and value in every namespace, as text, to look for traces of a user. */
async function dump(store: Store): Promise<{ ns: string; key: string; text: string }[]> {
  const out: { ns: string; key: string; text: string }[] = [];
  for (const ns of NAMESPACES) {
    for (const key of await store.keys(ns)) {
      const value = await store.ns(ns).get(key);
      out.push({ ns, key, text: `${key} ${JSON.stringify(value, (_k, v) => (v?.type === 'Buffer' ? '<bytes>' : v))}` });
    }
  }
  return out;
}

async function rejectsInput(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

// ------------------------------------------------------------------------------------------ open-store

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

// -------------------------------------------------------------------------------------------- photos

test('normalizePhoto: EXIF rotation applied, metadata stripped, fitted within 768, PNG, deterministic', async () => {
  const rotated = await normalizePhoto(await photo(1, { width: 40, height: 30, format: 'jpeg', orientation: 6 }));
  assert.deepEqual([rotated.width, rotated.height], [30, 40]);
  const meta = await sharp(rotated.data).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.exif, undefined);
  assert.equal(meta.orientation, undefined);

  const wide = await normalizePhoto(await photo(2, { width: 2000, height: 1000 }));
  assert.deepEqual([wide.width, wide.height], [PHOTO_MAX_SIDE, PHOTO_MAX_SIDE / 2]);
  const small = await normalizePhoto(await photo(3, { width: 40, height: 30 }));
  assert.deepEqual([small.width, small.height], [40, 30]); // never enlarged

  // Same pixels, different file (metadata, compression): the same photo.
  const raw = await sharp(await photo(4)).raw().toBuffer();
  const plain = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
  const withExif = await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } })
    .png({ compressionLevel: 1 })
    .withExif({ IFD0: { Copyright: 'someone', ImageDescription: 'taken at home' } })
    .toBuffer();
  assert.notDeepEqual(plain, withExif);
  assert.equal((await normalizePhoto(plain)).hash, (await normalizePhoto(withExif)).hash);

  await assert.rejects(normalizePhoto(Buffer.from('not an image')), ImageInputError);
  await assert.rejects(normalizePhoto(new Uint8Array()), ImageInputError);
});

test('photos: exact round trip, content addressing, reference counting', async () => {
  await withStores(async ({ photos }) => {
    const bytes = await photo(5);
    const expected = await normalizePhoto(bytes);
    const u8 = new Uint8Array(bytes); // a plain Uint8Array (not a Buffer) as input
    const h1 = await photos.putPhoto(u8, 'subject:one');
    const h2 = await photos.putPhoto(bytes, 'subject:two');
    assert.equal(h1, expected.hash);
    assert.equal(h2, h1);
    assert.equal(await photos.count(), 1);
    assert.deepEqual(await photos.refs(h1), ['subject:one', 'subject:two']);
    const back = await photos.getPhoto(h1);
    assert.ok(back && Buffer.isBuffer(back));
    assert.ok(back.equals(expected.data), 'stored bytes are exactly the normalized bytes');
    assert.equal((await photos.getRecord(h1))?.width, 40);

    await photos.putPhoto(bytes, 'subject:one'); // idempotent
    assert.deepEqual(await photos.refs(h1), ['subject:one', 'subject:two']);
    assert.equal(await photos.release([h1], 'subject:one'), 0);
    assert.equal(await photos.release([h1], 'subject:one'), 0); // idempotent
    assert.ok(await photos.has(h1));
    assert.equal(await photos.release([h1], 'subject:two'), 1);
    assert.equal(await photos.has(h1), false);
    assert.equal(await photos.getPhoto(h1), undefined);
    assert.deepEqual(await photos.refs(h1), []);
    assert.equal(await photos.getPhoto('../etc/passwd'), undefined);
  });
});

// ------------------------------------------------------------------------------------------ subjects

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

// -------------------------------------------------------------------------------- persistence, forget

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

// ---------------------------------------------------------------------------------------- groundings

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

// ---------------------------------------------------------------------------------------------- jobs

test('job store: create, update, list, ids fit a custom_id, photos kept alive by the job', async () => {
  let now = 10_000;
  await withStores(
    async ({ jobs, photos, subjects }) => {
      const up = await photos.putPhoto(await photo(28), 'job:pending0001');
      const job = await jobs.create({
        id: 'pending0001',
        ownerId: A,
        guildId: null,
        channelId: CH,
        prompt: 'on the moon',
        seed: 123,
        options: { cfgWeight: 4.5, count: 1, temperature: 0.9 },
        photoHashes: [up],
        name: 'me',
      });
      assert.equal(job.status, 'queued');
      assert.equal(job.createdAt, 10_000);
      assert.deepEqual(await photos.refs(up), ['job:pending0001']);

      const auto = await jobs.create({ ownerId: A, guildId: G1, channelId: CH, threadId: '600000000000000001', prompt: 'x', seed: 0, options: {} });
      assert.match(auto.id, /^[A-Za-z0-9_-]{12}$/);
      assert.ok(`variations:${auto.id}`.length <= 100);
      await assert.rejects(jobs.create({ id: auto.id, ownerId: A, guildId: G1, channelId: CH, prompt: 'x', seed: 0, options: {} }), /already exists/);
      await assert.rejects(jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'x', seed: 1, options: {}, photoHashes: ['c'.repeat(64)] }), /does not exist/);

      now = 11_000;
      const running = await jobs.update(auto.id, { status: 'running' });
      assert.equal(running.startedAt, 11_000);
      now = 15_000;
      const failed = await jobs.update(auto.id, { status: 'failed', error: 'Out of memory.' });
      assert.equal(failed.finishedAt, 15_000);
      assert.equal(failed.error, 'Out of memory.');
      assert.equal(failed.threadId, '600000000000000001');
      await assert.rejects(jobs.update('nope', { status: 'done' }), /does not exist/);
      assert.equal(await jobs.get('bad id!'), undefined);

      await jobs.create({ ownerId: B, guildId: G1, channelId: CH, prompt: 'b', seed: 0, options: {} });
      assert.deepEqual((await jobs.listByUser(A)).map((j) => j.id), [auto.id, 'pending0001']); // newest first
      assert.deepEqual((await jobs.listByUser(A, { limit: 1 })).map((j) => j.id), [auto.id]);

      // A job on a subject does not keep the subject's photos alive.
      const rex = await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [await photo(29)] });
      await jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'r', seed: 0, options: {}, subjectId: rex.id });
      await subjects.delete(A, G1, 'rex');
      assert.equal(await photos.has(rex.photoHashes[0]), false);

      assert.deepEqual(await jobs.deleteForUser(A), { jobs: 3, photos: 1 });
      assert.equal(await photos.has(up), false);
      assert.deepEqual(await jobs.listByUser(A), []);
      assert.equal((await jobs.listByUser(B)).length, 1);
    },
    { now: () => now },
  );
});

test('job store: TTL cleanup after 30 days and maintenance sweep of orphaned photos', async () => {
  const DAY = 24 * 60 * 60 * 1000;
  let now = 100 * DAY;
  await withStores(
    async ({ jobs, photos, maintenance, store }) => {
      assert.equal(jobs.retentionMs, 30 * DAY);
      const up = await photos.putPhoto(await photo(30), 'job:oldjob00001');
      await jobs.create({ id: 'oldjob00001', ownerId: A, guildId: G1, channelId: CH, prompt: 'old', seed: 0, options: {}, photoHashes: [up] });
      await jobs.update('oldjob00001', { status: 'done' });
      now += 10 * DAY;
      const recent = await jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'new', seed: 0, options: {} });
      now += 25 * DAY; // old: finished 35 days ago; recent: created 25 days ago
      // Leftovers of a crash: a photo referenced by a subject that was never written.
      const ghost = await photos.putPhoto(await photo(31), 'subject:ghost000001');
      now += 2 * 60 * 60_000; // past the sweep's grace period
      // A save in progress (photo written, record not yet): younger than the grace period, kept.
      const inFlight = await photos.putPhoto(await photo(34), 'subject:inflight0001');

      const result = await maintenance();
      // The old job's photo goes with the job; the ghost's photo is found by the sweep.
      assert.deepEqual(result, { jobsDeleted: 1, threadLinksDeleted: 0, groundingsDeleted: 0, photosDeleted: 1, refsDropped: 1 });
      assert.equal(await jobs.get('oldjob00001'), undefined);
      assert.ok(await jobs.get(recent.id));
      assert.deepEqual((await jobs.listByUser(A)).map((j) => j.id), [recent.id]);
      assert.equal(await photos.has(up), false);
      assert.equal(await photos.has(ghost), false);
      assert.deepEqual(await photos.refs(inFlight), ['subject:inflight0001']);
      assert.deepEqual(await store.keys('photorefs'), [inFlight]);
      now += 2 * 60 * 60_000;
      assert.deepEqual(await maintenance(), { jobsDeleted: 0, threadLinksDeleted: 0, groundingsDeleted: 0, photosDeleted: 1, refsDropped: 1 });
      assert.deepEqual(await store.keys('photorefs'), []);
      assert.equal(await photos.count(), 0);
    },
    { now: () => now },
  );
});

test('thread links: link, lookup (also links in the form older versions wrote), forgetUser, expiry with their job, and no link to a job that no longer exists', async () => {
  const DAY = 24 * 60 * 60 * 1000;
  let now = 100 * DAY;
  await withStores(
    async ({ store, jobs, threads, forgetUser, maintenance }) => {
      const T1 = '700000000000000001';
      const T2 = '700000000000000002';
      const T3 = '700000000000000003';
      const TOLD = '700000000000000004';
      const a = await jobs.create({ ownerId: A, guildId: G1, channelId: CH, prompt: 'a', seed: 1, options: {} });
      const a2 = await jobs.create({ ownerId: A, guildId: G1, channelId: T1, threadId: T1, prompt: 'a again', seed: 1, options: {}, parentId: a.id });
      const b = await jobs.create({ ownerId: B, guildId: G1, channelId: CH, prompt: 'b', seed: 2, options: {} });
      await threads.link(T1, a.id, A);
      assert.deepEqual(await threads.lookup(T1), { jobId: a.id, ownerId: A });
      // A later result in the same thread: a reply refines that one.
      await threads.link(T1, a2.id, A);
      assert.deepEqual(await threads.lookup(T1), { jobId: a2.id, ownerId: A });
      await threads.link(T2, b.id, B);
      assert.equal(await threads.lookup(T3), undefined);
      assert.equal(await threads.lookup('not a snowflake:x'), undefined);
      // Written by an older version straight into meta: found, and forgotten with its user.
      await store.meta.set(`thread:${TOLD}`, { jobId: 'expiredJob01', ownerId: A });
      assert.deepEqual(await threads.lookup(TOLD), { jobId: 'expiredJob01', ownerId: A });

      // Retention: a link whose job record is gone (expired) goes; links to live jobs stay.
      await store.meta.set(`thread:${T3}`, { jobId: 'expiredJob02', ownerId: B });
      const result = await maintenance();
      assert.equal(result.threadLinksDeleted, 2);
      assert.equal(await threads.lookup(TOLD), undefined);
      assert.equal(await threads.lookup(T3), undefined);
      assert.deepEqual(await threads.lookup(T1), { jobId: a2.id, ownerId: A });
      now += 40 * DAY; // every job is past its retention now: their threads' links go with them
      await jobs.update(b.id, { status: 'done' });
      assert.equal((await maintenance()).threadLinksDeleted, 1, "A's jobs never finished: expired by creation time");
      assert.equal(await threads.lookup(T1), undefined);
      assert.deepEqual(await threads.lookup(T2), { jobId: b.id, ownerId: B }, "B's job finished just now");

      // A's records are gone: a late post (forget-me while it was being posted) cannot link a thread to them again.
      assert.equal(await threads.link(T1, a.id, A), false);
      assert.equal(await threads.lookup(T1), undefined);
      await store.meta.set(`thread:${T1}`, { jobId: a.id, ownerId: A }); // (as an older version wrote it; forget-me finds it by its owner)
      await store.meta.set(`thread:${TOLD}`, { jobId: 'expiredJob01', ownerId: A });
      await forgetUser(A);
      assert.equal(await threads.lookup(T1), undefined);
      assert.equal(await threads.lookup(TOLD), undefined);
      assert.deepEqual(await threads.lookup(T2), { jobId: b.id, ownerId: B });
      assert.deepEqual((await store.keys('meta')).filter((k) => k.startsWith('thread:')), [`thread:${T2}`]);
      assert.equal(await threads.forgetUser(B), 1);
      assert.deepEqual((await store.keys('meta')).filter((k) => k.startsWith('thread:')), []);
    },
    { now: () => now },
  );
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

// --------------------------------------------------------------------------------------------- Redis

test('Redis backend: same behaviour, exact photo bytes, survives reopen', async (t) => {
  const binary = await findRedisServer();
  if (!binary) {
    t.skip('redis-server is not installed (apt-get install -y redis-server)');
    return;
  }
  const dir = await mkdtemp(join(root, 'redis-'));
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

