import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CancelledError, InputError, JobTimeoutError } from '../../src/errors.ts';
import { ClusterQueue } from '../../src/jobs/cluster/cluster-queue.ts';
import { ClusterRunner } from '../../src/jobs/cluster/cluster-runner.ts';
import { ModelWorker } from '../../src/jobs/cluster/model-worker.ts';
import type { JobOutcome, RunHooks } from '../../src/jobs/job-outcome.ts';
import { JobLife } from '../../src/jobs/job-life.ts';
import { DEFAULT_UPLOAD_LIMIT, keptFromOutcome } from '../../src/jobs/kept-outcome.ts';
import { EngineCrashedError } from '../../src/runtime/engine-errors.ts';
import { openStores, type JobRecord, type Stores } from '../../src/store/index.ts';
import { StoreUnavailableError } from '../../src/store/store-outage.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';

// The Redis queue's failure rules with a real redis-server and BullMQ, the gateway side and a model
// worker in this process, and a job runner that fails as each case needs (no model).

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (CI installs it; apt-get install redis-server)';

let redis: RedisServer;
let dataDir: string;
let stores: Stores;
let queue: ClusterQueue;
let runner: ClusterRunner;
let worker: ModelWorker | undefined;
/** How the next runs behave, and how many runs each job got. */
let behave: (job: JobRecord, signal: AbortSignal, run: number) => Promise<void>;
const runs = new Map<string, number>();

before(async () => {
  if (skip) return;
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-cluster-fail-'));
  redis = await startRedisServer(redisBinary!);
  stores = await openStores({ dataDir, redisUrl: redis.url });
  queue = await ClusterQueue.start({ redisUrl: redis.url, pollMs: 500 });
  runner = new ClusterRunner(queue, stores);
});

after(async () => {
  await worker?.close({ force: true });
  await queue?.close();
  await stores?.close();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** An outcome with one 1x1 image, as runStoredJob returns it. */
function outcomeFor(job: JobRecord): JobOutcome {
  const image = { data: Buffer.from([137, 80, 78, 71]), format: 'png' as const, width: 1, height: 1, seed: job.seed, imageTokens: [1, 2, 3] };
  return {
    job: { ...job, status: 'done' },
    generation: { images: [image], promptTokens: 3, timings: { tokensMs: 1, decodeMs: 1, imageTokensPerSec: 3 } },
    grounding: { text: '', cached: false, ms: 0 },
    totalMs: 1,
  };
}

async function startWorker(maxRunMs = 60_000): Promise<void> {
  await worker?.close({ force: true });
  worker = await ModelWorker.start({
    redisUrl: redis.url,
    stores,
    concurrency: 1,
    maxRunMs,
    lockMs: 3_000,
    run: async (job: JobRecord, signal: AbortSignal, _hooks: RunHooks) => {
      const n = (runs.get(job.id) ?? 0) + 1;
      runs.set(job.id, n);
      await stores.jobs.update(job.id, { status: 'running' });
      await behave(job, signal, n);
      // As runStoredJob ends: the images kept with the record (JobLife.drawn).
      const outcome = outcomeFor(job);
      await new JobLife(stores).drawn(job, keptFromOutcome(outcome, { trace: false, sizeLimit: DEFAULT_UPLOAD_LIMIT }), '', { waitForStore: true });
      return outcome;
    },
  });
}

async function newJob(userId: string): Promise<JobRecord> {
  return stores.jobs.create({ ownerId: userId, guildId: '1200000000000000001', channelId: '1200000000000000002', prompt: 'a kite', seed: 1, options: {} });
}

test('a job whose engine crashes every time is run 3 times, then fails with the crash error and its record says failed', { skip, timeout: 60_000 }, async () => {
  await startWorker();
  behave = async () => {
    throw new EngineCrashedError();
  };
  const job = await newJob('1300000000000000011');
  await assert.rejects(runner.submit(job).result, (err: unknown) => err instanceof EngineCrashedError && /crashed/.test(err.message));
  assert.equal(runs.get(job.id), 3);
  assert.equal((await stores.jobs.get(job.id))?.status, 'failed');
});

test('an engine crash on the first run only: the second run delivers the images', { skip, timeout: 60_000 }, async () => {
  behave = async (_job, _signal, n) => {
    if (n === 1) throw new EngineCrashedError();
  };
  const job = await newJob('1300000000000000012');
  const outcome = await runner.submit(job).result;
  assert.equal(runs.get(job.id), 2);
  assert.equal(outcome.generation.images.length, 1);
  assert.deepEqual([...outcome.generation.images[0].data], [137, 80, 78, 71]);
});

test("a job's own error (a photo no longer stored) is not run again and reaches the gateway with its class, code and message", { skip, timeout: 60_000 }, async () => {
  behave = async () => {
    throw new InputError('photo_gone', 'A photo of this request is no longer stored; send it again.');
  };
  const job = await newJob('1300000000000000013');
  await assert.rejects(runner.submit(job).result, (err: unknown) => err instanceof InputError && err.code === 'photo_gone' && /no longer stored/.test(err.message));
  assert.equal(runs.get(job.id), 1);
  assert.equal((await stores.jobs.get(job.id))?.status, 'failed');
});

test('a run past the deadline is stopped with a timeout and not run again', { skip, timeout: 60_000 }, async () => {
  await startWorker(1_000);
  behave = (_job, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  const job = await newJob('1300000000000000014');
  await assert.rejects(runner.submit(job).result, (err: unknown) => err instanceof JobTimeoutError);
  assert.equal(runs.get(job.id), 1);
});

test('Cancel on a running job stops its run on the worker; the gateway gets the CancelledError with who cancelled, and the record says cancelled', { skip, timeout: 60_000 }, async () => {
  await startWorker();
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  behave = (_job, signal) =>
    new Promise((_, reject) => {
      started();
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  const job = await newJob('1300000000000000015');
  const handle = runner.submit(job);
  await running;
  assert.equal(handle.cancel('Cancelled by you.'), true);
  await assert.rejects(handle.result, (err: unknown) => err instanceof CancelledError && err.message === 'Cancelled by you.');
  assert.equal(runs.get(job.id), 1);
  assert.equal((await stores.jobs.get(job.id))?.status, 'cancelled');
});

test('a job refused at admission (a full queue for its user) rejects with the queue-full message and never runs', { skip, timeout: 60_000 }, async () => {
  await worker?.close({ force: true });
  worker = undefined;
  behave = async () => {};
  const user = '1300000000000000016';
  // With no worker up the first two wait; the default cap lets a user have 2 waiting.
  const waiting = [runner.submit(await newJob(user)), runner.submit(await newJob(user))];
  const third = await newJob(user);
  await assert.rejects(runner.submit(third).result, (err: unknown) => err instanceof InputError && err.code === 'queue_full' && /2 images waiting/.test(err.message));
  assert.equal(runs.get(third.id), undefined);
  for (const h of waiting) h.cancel();
  await Promise.allSettled(waiting.map((h) => h.result));
});

test('the store away for 4 s at the start of every run (Redis restarting): the worker waits it out with back-off inside the job\'s deadline, and the job ends with its images, not failed', { skip, timeout: 60_000 }, async () => {
  await startWorker();
  const until = Date.now() + 4_000;
  let refused = 0;
  behave = async () => {
    if (Date.now() < until) {
      refused++;
      throw new StoreUnavailableError();
    }
  };
  const job = await newJob('1300000000000000017');
  const outcome = await runner.submit(job).result;
  assert.equal(outcome.generation.images.length, 1);
  assert.ok(refused >= 3, `the store was refused ${refused} times`);
  assert.equal((await stores.jobs.get(job.id))?.status, 'drawn');
});
