import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../src/errors.ts';
import { admitJob, type AdmissionParts, type AdmittedJob } from '../src/jobs/admission/admit.ts';
import { ClusterQueue } from '../src/jobs/cluster/cluster-queue.ts';
import { JobQueue } from '../src/jobs/in-process/job-queue.ts';
import { NO_QUOTA, Quota, QuotaExceededError } from '../src/jobs/quota.ts';
import type { QueueView } from '../src/jobs/queue-view.ts';
import { newId, openStores, type Stores } from '../src/store/index.ts';
import { findRedisServer, startRedisServer, type RedisServer } from './helpers/redis-server.ts';

// One admission (admitJob) takes a job's queue place, its per-member place and its images, and its
// ticket gives back what the job no longer needs on every path. Both queues: in-process and Redis.

const GUILD = '1200000000000000011';
const OTHER_GUILD = '1200000000000000021';
const ALICE = '1300000000000000011';
const BOB = '1300000000000000012';
const silent = { warn: () => {} };

let dataDir: string;
let stores: Stores;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-admission-'));
  stores = await openStores({ dataDir });
});

after(async () => {
  await stores?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The slow part of making a job (downloads, storing): it yields, then writes the record. */
function intake(id: string, userId: string, guildId: string | null, counter?: { runs: number }) {
  return async () => {
    if (counter) counter.runs++;
    await sleep(5);
    return stores.jobs.create({ id, ownerId: userId, guildId, channelId: '1200000000000000002', prompt: 'a kite', seed: 1, options: {} });
  };
}

/** `n` admissions of one member at once (spread over `queues`, one per gateway), each with its intake. */
async function admitAtOnce(queues: QueueView[], quota: Quota, n: number, jobsPerUser: number) {
  const counter = { runs: 0 };
  const results = await Promise.allSettled(
    Array.from({ length: n }, async (_, i) => {
      await sleep(0);
      const id = newId();
      const parts: AdmissionParts = { queue: queues[i % queues.length], quota, stores, logger: silent };
      return admitJob(parts, id, { userId: ALICE, guildId: GUILD, images: 1, jobsPerUser }, intake(id, ALICE, GUILD, counter));
    }),
  );
  const admitted = results.filter((r): r is PromiseFulfilledResult<AdmittedJob> => r.status === 'fulfilled').map((r) => r.value);
  const refusals = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  return { admitted, refusals, intakes: counter.runs };
}

function isPerMemberRefusal(limit: number, has: number) {
  return (err: unknown) =>
    err instanceof InputError && err.code === 'jobs_per_user' && err.message === `This server allows ${limit} image${limit === 1 ? '' : 's'} per member in the queue at once, and you have ${has}; wait for one to finish.`;
}

/** A runner that never ends by itself (until aborted). */
const held = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

describe('the in-process queue', () => {
  test('12 admissions at once of one member against a server cap of 2 per member: exactly 2 tickets, the rest refused with the per-member message before any intake', async () => {
    const queue = new JobQueue({ concurrency: 1, maxWaitingPerUser: 20 });
    const quota = new Quota({ limitsFor: async () => NO_QUOTA });
    try {
      const { admitted, refusals, intakes } = await admitAtOnce([queue], quota, 12, 2);
      assert.equal(admitted.length, 2);
      assert.equal(intakes, 2, 'a refused admission never starts its intake');
      assert.equal(refusals.length, 10);
      for (const err of refusals) assert.ok(isPerMemberRefusal(2, 2)(err), String(err));
      // The cap is per member and per server: Bob there, and Alice elsewhere, are let in.
      assert.equal(queue.reserve(newId(), BOB, GUILD, 2).release(), true);
      assert.equal(queue.reserve(newId(), ALICE, OTHER_GUILD, 2).release(), true);

      // Submitted, the jobs hold the places instead of the tickets; a cancelled one frees its place.
      const handles = admitted.map(({ job }) => queue.submit({ id: job.id, userId: ALICE, guildId: GUILD, run: held }));
      assert.equal(queue.reservedCount, 0);
      assert.throws(() => queue.reserve(newId(), ALICE, GUILD, 2), isPerMemberRefusal(2, 2));
      handles[1].cancel();
      await handles[1].result.catch(() => {});
      await admitted[1].ticket.release();
      queue.reserve(newId(), ALICE, GUILD, 2).release();
    } finally {
      await queue.drain({ waitMs: 0, graceMs: 100 });
      await quota.close();
    }
  });

  test('the ticket gives back the place and the images when the intake fails, the quota refuses, or the job is cancelled while waiting; it keeps the images once the model started', async () => {
    const queue = new JobQueue({ concurrency: 1, maxWaitingPerUser: 5 });
    const quota = new Quota({ limitsFor: async () => ({ ...NO_QUOTA, userPerHour: 3 }) });
    const parts: AdmissionParts = { queue, quota, stores, logger: silent };
    const request = (images: number) => ({ userId: ALICE, guildId: GUILD, images, jobsPerUser: 1 });
    const imagesLeft = async () => {
      for (let n = 3; n > 0; n--) if (await quota.check(ALICE, GUILD, n).then(() => true, () => false)) return n;
      return 0;
    };
    try {
      // Intake failed (a disk full while storing photos): nothing stays held.
      await assert.rejects(admitJob(parts, newId(), request(2), async () => {
        throw new Error('disk full');
      }), /disk full/);
      assert.equal(queue.reservedCount, 0);
      assert.equal(await imagesLeft(), 3);

      // Refused by the quota after the place was taken: the place is given back.
      await assert.rejects(admitJob(parts, newId(), request(4), intake(newId(), ALICE, GUILD)), QuotaExceededError);
      assert.equal(queue.reservedCount, 0);

      // Cancelled while waiting (Bob's job has the one slot): its images come back, its place is free.
      const bobs = queue.submit({ id: 'bob-running', userId: BOB, guildId: GUILD, run: held });
      const idle = newId();
      const waiting = await admitJob(parts, idle, request(2), intake(idle, ALICE, GUILD));
      assert.equal(await imagesLeft(), 1);
      const handle = queue.submit({ id: idle, userId: ALICE, guildId: GUILD, run: held });
      assert.equal(handle.state, 'waiting');
      handle.cancel();
      await handle.result.catch(() => {});
      await waiting.ticket.release();
      assert.equal(await imagesLeft(), 3);
      bobs.cancel();
      await bobs.result.catch(() => {});

      // Started, then cancelled: the model did the work, so the images stay used.
      const ran = newId();
      const started = await admitJob(parts, ran, request(2), intake(ran, ALICE, GUILD));
      let returned!: () => void;
      const runnerReturned = new Promise<void>((resolve) => (returned = resolve));
      const running = queue.submit({
        id: ran,
        userId: ALICE,
        guildId: GUILD,
        run: async (signal) => {
          await stores.jobs.update(ran, { status: 'running' });
          try {
            await held(signal);
          } finally {
            returned();
          }
        },
      });
      while ((await stores.jobs.get(ran))?.status !== 'running') await sleep(5);
      running.cancel();
      await running.result.catch(() => {});
      await runnerReturned;
      await started.ticket.release();
      await started.ticket.release();
      assert.equal(await imagesLeft(), 1, 'a started job keeps its images, and a second release gives nothing back');
      assert.equal(queue.reservedCount, 0);
    } finally {
      await queue.drain({ waitMs: 0, graceMs: 100 });
      await quota.close();
    }
  });
});

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (CI installs it; apt-get install redis-server)';

describe('the Redis queue (two gateways on one redis-server, no model worker)', { skip }, () => {
  let redis: RedisServer;
  let a: ClusterQueue;
  let b: ClusterQueue;
  let quota: Quota;

  before(async () => {
    redis = await startRedisServer(redisBinary!);
    a = await ClusterQueue.start({ redisUrl: redis.url, maxWaitingPerUser: 20, reservationMs: 1_500, pollMs: 500 });
    b = await ClusterQueue.start({ redisUrl: redis.url, maxWaitingPerUser: 20, reservationMs: 1_500, pollMs: 500 });
    quota = new Quota({ limitsFor: async () => ({ ...NO_QUOTA, userPerHour: 50 }), redisUrl: redis.url });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await quota?.close();
    await redis?.stop();
  });

  test('12 admissions at once of one member over two gateways against a cap of 2 per member: exactly 2 tickets; the jobs then hold the places; a released ticket frees its place for the other gateway', async () => {
    const { admitted, refusals, intakes } = await admitAtOnce([a, b], quota, 12, 2);
    assert.equal(admitted.length, 2);
    assert.equal(intakes, 2);
    for (const err of refusals) assert.ok(isPerMemberRefusal(2, 2)(err), String(err));

    // Added to BullMQ, the jobs count instead of the places (follow turns a place into its job).
    const followed = admitted.map(({ job }) => a.follow({ id: job.id, userId: ALICE, guildId: GUILD }));
    while (a.snapshot().waiting.length < 2) await sleep(20);
    await assert.rejects(b.reserve(newId(), ALICE, GUILD, 2), isPerMemberRefusal(2, 2));

    // An intake that fails on gateway b gives its place back at once (Alice at another server's cap of 1).
    const failing = newId();
    await assert.rejects(
      admitJob({ queue: b, quota, stores, logger: silent }, failing, { userId: ALICE, guildId: OTHER_GUILD, images: 1, jobsPerUser: 1 }, async () => {
        throw new Error('download failed');
      }),
      /download failed/,
    );
    const next = await a.reserve(newId(), ALICE, OTHER_GUILD, 1);
    assert.equal(await next.release(), true);
    assert.equal(await next.release(), false);

    for (const f of followed) f.cancel();
    await Promise.allSettled(followed.map((f) => f.result));
    for (const { ticket } of admitted) await ticket.release();
    // Both cancelled while waiting (never started): the member may queue two again.
    (await a.reserve(newId(), ALICE, GUILD, 2)).release();
  });

  test('the quota is given back through Redis when an intake fails; a place held by a gateway that died stops counting once its liveness lapses, one forgotten by a live gateway after reservationMs', async () => {
    const limited = new Quota({ limitsFor: async () => ({ ...NO_QUOTA, userPerHour: 2 }), redisUrl: redis.url, id: 'admission-test' });
    try {
      await assert.rejects(
        admitJob({ queue: a, quota: limited, stores, logger: silent }, newId(), { userId: BOB, guildId: GUILD, images: 2 }, async () => {
          throw new Error('store full');
        }),
        /store full/,
      );
      await limited.check(BOB, GUILD, 2);

      // A third gateway takes Bob's one place and dies without giving it back (its liveness is not renewed).
      const dead = await ClusterQueue.start({ redisUrl: redis.url, reservationMs: 60_000, livenessMs: 600 });
      await dead.reserve(newId(), BOB, OTHER_GUILD, 1);
      await dead.close();
      await assert.rejects(a.reserve(newId(), BOB, OTHER_GUILD, 1), isPerMemberRefusal(1, 1));
      await sleep(900);
      await (await a.reserve(newId(), BOB, OTHER_GUILD, 1)).release();

      // Gateway b, alive, forgets a place: it stops counting after reservationMs (1.5 s here).
      await b.reserve(newId(), BOB, OTHER_GUILD, 1);
      await assert.rejects(a.reserve(newId(), BOB, OTHER_GUILD, 1), isPerMemberRefusal(1, 1));
      await sleep(1_700);
      await (await a.reserve(newId(), BOB, OTHER_GUILD, 1)).release();
    } finally {
      await limited.close();
    }
  });
});
