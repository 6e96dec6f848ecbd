import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobQueue, QueueClosedError, QueueFullError } from '../src/jobs/in-process/job-queue.ts';

/** A runner that never ends by itself (until aborted), so admitted jobs keep their places. */
const held = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

/**
 * What a front end does: take a place (the admission check), do the slow intake (downloads, storing),
 * then submit. Every admission runs at once; intake yields, so they all interleave.
 */
async function admitAll(queue: JobQueue, users: { userId: string; guildId: string | null }[]) {
  let intakeStarted = 0;
  const refusals: unknown[] = [];
  const outcomes = await Promise.all(
    users.map(async ({ userId, guildId }, i) => {
      const id = `job${i}`;
      await sleep(0);
      let reservation;
      try {
        reservation = queue.reserve(id, userId, guildId);
      } catch (err) {
        refusals.push(err);
        return 'refused' as const;
      }
      try {
        intakeStarted++;
        await sleep(5 + (i % 3)); // the slow part: downloading and storing photos
        queue.submit({ id, userId, guildId, run: held });
        return 'queued' as const;
      } catch (err) {
        reservation.release();
        throw err;
      }
    }),
  );
  return { intakeStarted, refusals, queued: outcomes.filter((o) => o === 'queued').length };
}

test('N concurrent admissions against a cap of K admit exactly K and refuse N-K before any intake work', async () => {
  const N = 12;
  // Server cap: K jobs of one server, waiting or running.
  {
    const K = 5;
    const queue = new JobQueue({ concurrency: 1, maxWaitingPerUser: 5, maxPerGuild: K, maxQueueLength: 50 });
    const r = await admitAll(queue, Array.from({ length: N }, (_, i) => ({ userId: `u${i}`, guildId: 'g1' })));
    assert.equal(r.queued, K);
    assert.equal(r.intakeStarted, K, 'refused admissions never started their intake');
    assert.equal(r.refusals.length, N - K);
    for (const e of r.refusals) assert.ok(e instanceof QueueFullError && e.limit === 'guild');
    const s = queue.snapshot();
    assert.equal(s.running.length + s.waiting.length, K);
    assert.equal(queue.reservedCount, 0);
    await queue.drain({ waitMs: 0, graceMs: 100 });
  }
  // Total cap: K waiting (one more runs at once, as for jobs submitted one after another).
  {
    const K = 4;
    const queue = new JobQueue({ concurrency: 1, maxWaitingPerUser: 5, maxQueueLength: K });
    const r = await admitAll(queue, Array.from({ length: N }, (_, i) => ({ userId: `u${i}`, guildId: null })));
    assert.equal(r.queued, K + 1);
    assert.equal(r.intakeStarted, K + 1);
    assert.equal(r.refusals.length, N - K - 1);
    for (const e of r.refusals) assert.ok(e instanceof QueueFullError && e.limit === 'queue');
    assert.equal(queue.snapshot().waiting.length, K);
    assert.equal(queue.runningCount, 1);
    assert.equal(queue.reservedCount, 0);
    await queue.drain({ waitMs: 0, graceMs: 100 });
  }
  // Per-user cap: one user, 1 running + K waiting.
  {
    const K = 2;
    const queue = new JobQueue({ concurrency: 2, maxWaitingPerUser: K, maxRunningPerUser: 1 });
    const r = await admitAll(queue, Array.from({ length: N }, () => ({ userId: 'u', guildId: null })));
    assert.equal(r.queued, K + 1);
    assert.equal(r.intakeStarted, K + 1);
    for (const e of r.refusals) assert.ok(e instanceof QueueFullError && e.limit === 'user');
    assert.equal(queue.snapshot().waiting.length, K);
    await queue.drain({ waitMs: 0, graceMs: 100 });
  }
});

test('a released reservation frees its place; reservations never show as queue positions; a forgotten one expires', async () => {
  const queue = new JobQueue({ concurrency: 1, maxWaitingPerUser: 5, maxQueueLength: 2, reservationMs: 50 });
  queue.submit({ id: 'run', userId: 'a', guildId: null, run: held });
  queue.submit({ id: 'w1', userId: 'b', guildId: null, run: held });
  const before = queue.snapshot().waiting;
  const r1 = queue.reserve('r1', 'c', null);
  assert.equal(r1.startsNow, false);
  assert.throws(() => queue.reserve('r2', 'd', null), (e) => e instanceof QueueFullError && e.limit === 'queue');
  assert.throws(() => queue.assertAccepts('d', null), QueueFullError);
  // Held places are not jobs: positions, snapshot and ETAs are what they were.
  assert.deepEqual(queue.snapshot().waiting, before);
  assert.equal(queue.position('w1'), 1);
  assert.equal(queue.position('r1'), null);
  // Released: the place is free again, and releasing twice changes nothing.
  assert.equal(r1.release(), true);
  assert.equal(r1.release(), false);
  assert.equal(r1.held, false);
  const r2 = queue.reserve('r2', 'd', null);
  assert.throws(() => queue.reserve('r3', 'e', null), QueueFullError);
  // Submitted: the reservation becomes the job at the position a plain submit would give it.
  queue.submit({ id: 'r2', userId: 'd', guildId: null, run: held });
  assert.equal(r2.held, false);
  assert.equal(queue.reservedCount, 0);
  assert.equal(queue.position('r2'), 2);
  assert.throws(() => queue.reserve('r3', 'e', null), QueueFullError);
  // Forgotten: the safety-net timeout gives the place back.
  queue.cancel('r2');
  const r4 = queue.reserve('r4', 'e', null);
  await sleep(120);
  assert.equal(r4.held, false);
  assert.equal(queue.reservedCount, 0);
  queue.reserve('r5', 'f', null).release();
  // Shutting down drops held places and refuses new ones.
  queue.reserve('r6', 'f', null);
  await queue.drain({ waitMs: 0, graceMs: 100 });
  assert.equal(queue.reservedCount, 0);
  assert.throws(() => queue.reserve('r7', 'g', null), QueueClosedError);
});
