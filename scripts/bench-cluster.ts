import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { BULL_PREFIX, KEYS, QUEUE_NAME } from '../src/jobs/cluster/cluster-names.ts';
import { ClusterQueue } from '../src/jobs/cluster/cluster-queue.ts';
import { ClusterRunner } from '../src/jobs/cluster/cluster-runner.ts';
import { GenerationService } from '../src/jobs/in-process/generation-service.ts';
import { JobQueue } from '../src/jobs/in-process/job-queue.ts';
import { WorkerEngine } from '../src/runtime/worker-engine.ts';
import { openStores, type JobRecord, type Stores } from '../src/store/index.ts';
import { findRedisServer, startRedisServer } from '../test/helpers/redis-server.ts';

/**
 * Throughput of the embedded bot (one process, model in worker threads) against the Redis queue with
 * one and with two model worker processes (`npm run worker`), on the same bundle and jobs in one run;
 * then the time a job takes to come back after its worker is killed with SIGKILL.
 */
const USAGE = 'Usage: npm run bench:cluster -- [--bundle DIR] [--jobs N] [--batch N] [--lock-seconds N] [--json FILE]';
const REPO = new URL('../', import.meta.url).pathname;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { bundle: { type: 'string' }, jobs: { type: 'string' }, batch: { type: 'string' }, 'lock-seconds': { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return void console.log(USAGE);
  const jobs = Number(values.jobs ?? 24);
  const batch = Number(values.batch ?? 1);
  const lockSeconds = Number(values['lock-seconds'] ?? 5);
  for (const [name, n] of [['--jobs', jobs], ['--batch', batch], ['--lock-seconds', lockSeconds]] as const) {
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`${name} takes a positive whole number`);
  }
  const binary = await findRedisServer();
  if (!binary) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const temp = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  let dir = values.bundle;
  if (!dir) {
    dir = join(temp, 'tiny');
    makeBundle({ out: dir, seed: 1, dims: TINY_DIMS });
  }
  try {
    progress('embedded: one process, model in worker threads');
    const embedded = await embeddedRun(dir, join(temp, 'embedded'), jobs, batch);
    const redis = await startRedisServer(binary);
    try {
      progress('redis: one model worker');
      const one = await clusterRun(dir, redis.url, join(temp, 'c1'), jobs, batch, 1, lockSeconds);
      await flush(redis.url);
      progress('redis: two model workers');
      const two = await clusterRun(dir, redis.url, join(temp, 'c2'), jobs, batch, 2, lockSeconds);
      await flush(redis.url);
      progress('redis: a worker killed mid-job');
      const recovery = await recoveryRun(dir, redis.url, join(temp, 'r'), batch, lockSeconds);
      const results = {
        machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
        bundle: values.bundle ?? 'generated tiny fixture (random weights)',
        jobs,
        jobsPerWorkerBatch: batch,
        jobsPerMinute: { embedded: embedded.perMinute, redisOneWorker: one.perMinute, redisTwoWorkers: two.perMinute },
        seconds: { embedded: embedded.seconds, redisOneWorker: one.seconds, redisTwoWorkers: two.seconds },
        ratios: { oneWorkerVsEmbedded: round(one.perMinute / embedded.perMinute), twoWorkersVsOne: round(two.perMinute / one.perMinute) },
        workerKill: { lockSeconds, ...recovery },
      };
      console.log(JSON.stringify(results, null, 2));
      if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
    } finally {
      await redis.stop();
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

const progress = (what: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${what}\n`);
const round = (x: number) => Math.round(x * 100) / 100;

function newJob(stores: Stores, i: number): Promise<JobRecord> {
  // Ten users take turns, as in a busy server.
  return stores.jobs.create({ ownerId: `1300000000000000${100 + (i % 10)}`, guildId: '1200000000000000001', channelId: '1200000000000000002', prompt: `a paper boat, take ${i}`, seed: i, options: {} });
}

async function embeddedRun(modelDir: string, dataDir: string, n: number, batch: number) {
  const stores = await openStores({ dataDir });
  const engine = await WorkerEngine.start({ modelDir, workers: 1, maxBatchRows: 2 * batch });
  try {
    const queue = new JobQueue({ concurrency: batch, maxWaitingPerUser: n, maxQueueLength: n });
    const service = new GenerationService(engine, stores, queue, { scorer: 'none' });
    const records = await Promise.all(Array.from({ length: n }, (_, i) => newJob(stores, i)));
    const t0 = performance.now();
    await Promise.all(records.map((r) => service.submit(r).result));
    const seconds = (performance.now() - t0) / 1000;
    return { seconds: round(seconds), perMinute: round((60 * n) / seconds) };
  } finally {
    await engine.close();
    await stores.close();
  }
}

function startWorker(modelDir: string, redisUrl: string, dataDir: string, batch: number, lockSeconds: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker-main.ts'], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, XCOT_GRAPH_CACHE: process.env.XCOT_GRAPH_CACHE, REDIS_URL: redisUrl, MODEL_DIR: modelDir, DATA_DIR: dataDir, BATCH_JOBS: String(batch), WORKER_LOCK_SECONDS: String(lockSeconds), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const redis = new Redis(redisUrl).on('error', () => {});
    const poll = setInterval(async () => {
      const keys = await redis.keys(`${KEYS.workerPrefix}*`).catch(() => []);
      if (keys.some((k) => k.includes(`-${child.pid}-`))) {
        clearInterval(poll);
        redis.disconnect();
        resolve(child);
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(poll);
      redis.disconnect();
      reject(new Error(`worker exited with ${code}`));
    });
  });
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.exitCode !== null || w.signalCode !== null) return resolve();
          w.once('exit', () => resolve());
          w.kill('SIGTERM');
        }),
    ),
  );
}

async function clusterRun(modelDir: string, redisUrl: string, dataDir: string, n: number, batch: number, workerCount: number, lockSeconds: number) {
  const workers: ChildProcess[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(modelDir, redisUrl, dataDir, batch, lockSeconds));
  const stores = await openStores({ dataDir, redisUrl });
  const queue = await ClusterQueue.start({ redisUrl, maxWaitingPerUser: n, maxQueueLength: n, maxPerGuild: n });
  try {
    const runner = new ClusterRunner(queue, stores);
    const records = await Promise.all(Array.from({ length: n }, (_, i) => newJob(stores, i)));
    const t0 = performance.now();
    await Promise.all(records.map((r) => runner.submit(r).result));
    const seconds = (performance.now() - t0) / 1000;
    return { seconds: round(seconds), perMinute: round((60 * n) / seconds) };
  } finally {
    await queue.close();
    await stores.close();
    await stopWorkers(workers);
  }
}

/** One job on one of two workers; that worker is killed as soon as it runs it. */
async function recoveryRun(modelDir: string, redisUrl: string, dataDir: string, batch: number, lockSeconds: number) {
  const workers = [await startWorker(modelDir, redisUrl, dataDir, batch, lockSeconds), await startWorker(modelDir, redisUrl, dataDir, batch, lockSeconds)];
  const stores = await openStores({ dataDir, redisUrl });
  const queue = await ClusterQueue.start({ redisUrl });
  const bull = new Queue(QUEUE_NAME, { connection: { url: redisUrl }, prefix: BULL_PREFIX });
  try {
    const runner = new ClusterRunner(queue, stores);
    const record = await stores.jobs.create({ ownerId: '1300000000000000100', guildId: null, channelId: '1200000000000000002', prompt: 'a lighthouse in a storm', seed: 7, options: { count: 4 } });
    const done = runner.submit(record).result;
    let holder: ChildProcess | undefined;
    while (!holder) {
      const job = await bull.getJob(record.id);
      if (job?.processedBy && (await job.getState()) === 'active') holder = workers.find((w) => job.processedBy!.includes(`-${w.pid}-`));
      if (!holder) await new Promise((r) => setTimeout(r, 10));
    }
    const killedAt = performance.now();
    holder.kill('SIGKILL');
    let restartedAt = 0;
    while (!restartedAt) {
      const job = await bull.getJob(record.id);
      if (job?.processedBy && !job.processedBy.includes(`-${holder.pid}-`) && ['active', 'completed'].includes(await job.getState())) restartedAt = performance.now();
      else await new Promise((r) => setTimeout(r, 10));
    }
    await done;
    const finishedAt = performance.now();
    return { secondsUntilAnotherWorkerRunsIt: round((restartedAt - killedAt) / 1000), secondsUntilDone: round((finishedAt - killedAt) / 1000) };
  } finally {
    await bull.close();
    await queue.close();
    await stores.close();
    await stopWorkers(workers);
  }
}

/** Empties the Redis between runs, so each starts from nothing. */
async function flush(url: string): Promise<void> {
  const redis = new Redis(url);
  await redis.flushall();
  redis.disconnect();
}

main().then(
  // A closed BullMQ connection can keep the event loop alive for a while; the figures are out.
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
