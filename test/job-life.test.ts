import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { JobLife } from '../src/jobs/job-life.ts';
import { openStores, type JobRecord, type KeptResult, type Stores } from '../src/store/index.ts';
import { findRedisServer, startRedisServer } from './helpers/redis-server.ts';

const REPO = new URL('../', import.meta.url).pathname;
const GAVE_UP = 'stopped twice';
let dataDir: string;
let stores: Stores;
let life: JobLife;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-job-life-'));
  stores = await openStores({ dataDir });
  life = new JobLife(stores);
});

after(async () => {
  await stores?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const kept: KeptResult = {
  images: [{ data: Buffer.from([1, 2, 3]).toString('base64'), format: 'png', width: 1, height: 1, seed: 1, imageTokens: [1] }],
  tokensMs: 1,
  grounding: { text: '', cached: false, ms: 0 },
  trace: false,
  sizeLimit: 1 << 20,
};

function newJob() {
  return stores.jobs.create({ ownerId: '1300000000000000011', guildId: '1200000000000000001', channelId: '1200000000000000002', prompt: 'a kite', seed: 1, options: {} });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test("only src/jobs/job-life.ts writes a job's status or keeps its images (every other update of a record leaves its status alone)", () => {
  const writers: string[] = [];
  for (const file of [...sourceFiles(join(REPO, 'src')), ...sourceFiles(join(REPO, 'commands'))]) {
    const where = relative(REPO, file);
    if (where === 'src/jobs/job-life.ts' || where.startsWith('src/store/') || where.startsWith('src/local-discord/')) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/jobs\.(update|keepResult|dropKeptResult)\(([^;]*)/g)) {
      if (m[1] !== 'update' || /\bstatus\s*:/.test(m[2])) writers.push(`${where}: jobs.${m[1]}(${m[2].slice(0, 60)}`);
    }
  }
  assert.deepEqual(writers, []);
});

test('drawn: the images are kept before the record says drawn; posted: the record says done and where, then the kept images go', async () => {
  const job = await newJob();
  await life.started(job.id);
  const drawn = await life.drawn(job, kept, 'a grounding', { waitForStore: true });
  assert.equal(drawn.status, 'drawn');
  assert.deepEqual(await stores.jobs.keptResult(job.id), kept);
  await life.posted(job.id, { messageId: '1400000000000000001', threadId: '1400000000000000002' });
  const record = await stores.jobs.get(job.id);
  assert.equal(record?.status, 'done');
  assert.equal(record?.messageId, '1400000000000000001');
  assert.equal(await stores.jobs.keptResult(job.id), undefined);
  // Settling a posted job as failed changes nothing.
  assert.equal(await life.settled(job.id, 'failed', new Error('late\nsecond line')), false);
  assert.equal((await stores.jobs.get(job.id))?.status, 'done');
});

test('after a restart: a waiting job is resumed unblamed; a running one is resumed and blamed once, failed the second time; a drawn one (or one running with kept images) is delivered; on model workers one is followed', async () => {
  const waiting = await newJob();
  let d = await life.afterRestart(waiting.id, 'run-again', GAVE_UP);
  assert.equal(d.kind, 'resume');
  assert.equal((await stores.jobs.get(waiting.id))?.crashes, undefined);
  d = await life.afterRestart(waiting.id, 'run-again', GAVE_UP);
  assert.equal(d.kind, 'resume', 'waiting through two deaths is no reason to fail it');

  const running = await newJob();
  await life.started(running.id);
  d = await life.afterRestart(running.id, 'run-again', GAVE_UP);
  assert.equal(d.kind, 'resume');
  assert.equal((await stores.jobs.get(running.id))?.crashes, 1);
  await life.started(running.id);
  d = await life.afterRestart(running.id, 'run-again', GAVE_UP);
  assert.equal(d.kind, 'gave-up');
  assert.deepEqual([(await stores.jobs.get(running.id))?.status, (await stores.jobs.get(running.id))?.error], ['failed', GAVE_UP]);

  const drawn = await newJob();
  await life.drawn(drawn, kept, '', { waitForStore: true });
  assert.equal((await life.afterRestart(drawn.id, 'run-again', GAVE_UP)).kind, 'deliver');
  const keptOnly = await newJob();
  await life.started(keptOnly.id);
  await stores.jobs.keepResult(keptOnly.id, kept); // killed between keeping the images and the drawn write
  assert.equal((await life.afterRestart(keptOnly.id, 'run-again', GAVE_UP)).kind, 'deliver');

  const remote = await newJob();
  await life.started(remote.id);
  assert.equal((await life.afterRestart(remote.id, 'follow', GAVE_UP)).kind, 'follow');
  assert.equal((await stores.jobs.get(remote.id))?.status, 'running');
});

test('a forgotten job keeps nothing: drawn images of a job whose record is gone are refused, and posted writes nothing', async () => {
  const job = await newJob();
  await stores.forgetUser(job.ownerId);
  const drawn = await life.drawn(job, kept, 'text', { waitForStore: true });
  assert.equal(drawn.status, 'drawn', 'the caller still gets its record');
  assert.equal(await stores.jobs.keptResult(job.id), undefined);
  await life.posted(job.id, { messageId: '1400000000000000003' });
  assert.equal(await stores.jobs.get(job.id), undefined);
});

test('drawn through a store outage: a model worker (waitForStore) keeps the images once the store is back; the in-process runner gives up within seconds and posts from memory', { timeout: 20_000 }, async () => {
  const jobs = stores.jobs;
  const keepResult = jobs.keepResult.bind(jobs);
  let refusals = 0;
  jobs.keepResult = async (id, result) => {
    if (refusals-- > 0) throw Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' });
    return keepResult(id, result);
  };
  try {
    const waiting = await newJob();
    refusals = 3;
    assert.equal((await life.drawn(waiting, kept, '', { waitForStore: true })).status, 'drawn');
    assert.ok(await jobs.keptResult(waiting.id), 'kept once the store answered');

    const posting = await newJob();
    refusals = Infinity;
    const started = Date.now();
    const record = await life.drawn(posting, kept, 'text', { waitForStore: false });
    assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
    assert.equal(record.status, 'drawn');
    assert.equal((await jobs.get(posting.id))?.status, 'queued');
  } finally {
    jobs.keepResult = keepResult;
  }
});

const redisBinary = await findRedisServer();
const NO_REDIS = redisBinary ? false : 'redis-server is not installed (apt-get install redis-server)';

/**
 * Stores on a real redis-server with a job the model started. `during` gets a function that SIGKILLs the
 * server and returns the write that must outlast the outage; the server comes back on its files 5 s later,
 * then `check` reads the result.
 */
async function acrossRedisKill(
  ownerId: string,
  during: (life: JobLife, job: JobRecord, kill: () => Promise<void>) => Promise<{ pending: Promise<unknown> }>,
  check: (stores: Stores, job: JobRecord, result: unknown) => Promise<void>,
): Promise<void> {
  const redisDir = mkdtempSync(join(tmpdir(), 'xcot-job-life-redis-'));
  let redis = await startRedisServer(redisBinary!, { dir: redisDir });
  const port = Number(new URL(redis.url).port);
  const onRedis = await openStores({ dataDir, redisUrl: redis.url });
  try {
    const redisLife = new JobLife(onRedis);
    const job = await onRedis.jobs.create({ ownerId, guildId: '1200000000000000001', channelId: '1200000000000000002', prompt: 'a kite', seed: 1, options: {} });
    await redisLife.started(job.id);
    const { pending } = await during(redisLife, job, () => redis.kill());
    await new Promise((r) => setTimeout(r, 5_000));
    redis = await startRedisServer(redisBinary!, { port, dir: redisDir });
    await check(onRedis, job, await pending);
  } finally {
    await onRedis.close();
    await redis.stop();
    rmSync(redisDir, { recursive: true, force: true });
  }
}

test('Redis killed (SIGKILL) between drawing and posting, back on its files 5 s later: the write that the image is posted waits for it, and the record says done and where', { skip: NO_REDIS, timeout: 60_000 }, async () => {
  await acrossRedisKill(
    '1300000000000000012',
    async (life, job, kill) => {
      await life.drawn(job, kept, '', { waitForStore: true });
      await kill();
      return { pending: life.posted(job.id, { messageId: '1400000000000000004' }) };
    },
    async (onRedis, job) => {
      const record = await onRedis.jobs.get(job.id);
      assert.deepEqual([record?.status, record?.messageId], ['done', '1400000000000000004']);
      assert.equal(await onRedis.jobs.keptResult(job.id), undefined);
    },
  );
});

test('Redis killed (SIGKILL) while a running job fails, back on its files 5 s later: settled waits for it and the record says failed with the reason; without waiting, the outage is thrown, not read as nothing to settle', { skip: NO_REDIS, timeout: 60_000 }, async () => {
  await acrossRedisKill(
    '1300000000000000013',
    async (life, job, kill) => {
      await kill();
      await assert.rejects(life.settled(job.id, 'cancelled', undefined, { waitForStore: false }));
      return { pending: life.settled(job.id, 'failed', new Error('the model ran out of memory\nat frame 2')) };
    },
    async (onRedis, job, settledWritten) => {
      assert.equal(settledWritten, true);
      const record = await onRedis.jobs.get(job.id);
      assert.deepEqual([record?.status, record?.error], ['failed', 'the model ran out of memory']);
    },
  );
});
