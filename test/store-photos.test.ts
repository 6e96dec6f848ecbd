import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ImageInputError } from '../src/images/errors.ts';
import { PHOTO_MAX_SIDE, normalizePhoto } from '../src/store/index.ts';
import { withStores, photo } from './helpers/store-fixtures.ts';

// Photos: normalization (rotation, metadata, size) and the content-addressed, reference-counted photo store.

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
