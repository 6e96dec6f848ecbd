import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnEntry, startWorkerProcess, waitForWorkers, type EntryProcess } from '../helpers/cluster-processes.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { removeTinyBundles, tinyBundle } from '../helpers/tiny-bundle.ts';

// `npm run worker` as an operator runs it (src/worker-main.ts, the model-worker root): configuration, GET /health, SIGTERM.

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (CI installs it; apt-get install redis-server)';

let redis: RedisServer;
let dataDir: string;
const children: EntryProcess[] = [];

before(async () => {
  if (skip) return;
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-worker-process-'));
  redis = await startRedisServer(redisBinary!);
});

after(async () => {
  for (const child of children) await child.stop();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('a model worker without REDIS_URL exits 1 before loading anything, with one line naming the variable and a pointer to .env.example', async () => {
  const worker = spawnEntry('src/worker-main.ts', { MODEL_DIR: 'no-such-bundle' });
  const [code] = (await once(worker.child, 'exit')) as [number | null];
  assert.equal(code, 1);
  assert.match(worker.stderr(), /^Configuration problems:\n {2}- REDIS_URL is required \(the Redis the gateways share\)\nSee \.env\.example\.\n$/);
});

test('a model worker with HEALTH_PORT answers GET /health 200 with ok and busy while it takes jobs; SIGTERM stops it with exit 0 and unregisters it', { skip, timeout: 120_000 }, async () => {
  const port = await freePort();
  const worker = await startWorkerProcess(redis.url, { MODEL_DIR: tinyBundle(1), DATA_DIR: dataDir, HEALTH_PORT: String(port), LOG_LEVEL: 'warn', BATCH_JOBS: '1' });
  children.push(worker);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true, busy: 0 });
  assert.equal((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status, 503);
  const { code } = await worker.stop('SIGTERM', 30_000);
  assert.equal(code, 0, worker.stderr());
  await waitForWorkers(redis.url, 0, 10_000);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
});
