import { test } from 'node:test';
import assert from 'node:assert/strict';
import { A, B, G1, CH, withStores, photo } from './helpers/store-fixtures.ts';

// Job records, their retention and photo references, and thread links.

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
