import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES, ConfigError, loadGatewayConfig as loadConfig, loadWorkerConfig } from '../src/app/config.ts';

const BASE = { DISCORD_TOKEN: 'secret-token-value', DISCORD_CLIENT_ID: '123456789012345678' };

test('engine settings default to 1 worker, 4 jobs per batch, 4096 / 256 MiB of subject caches', () => {
  const c = loadConfig({ ...BASE });
  assert.deepEqual([c.modelSlots, c.batchJobs, c.prefixCacheMb, c.visionCacheMb], [1, 4, 4096, 256]);
  const set = loadConfig({ ...BASE, MODEL_SLOTS: '2', BATCH_JOBS: '1', SUBJECT_CACHE_MB: '0', VISION_CACHE_MB: '64' });
  assert.deepEqual([set.modelSlots, set.batchJobs, set.prefixCacheMb, set.visionCacheMb], [2, 1, 0, 64]);
});

test('bad engine settings are each named in one ConfigError', () => {
  let err: unknown;
  try {
    loadConfig({ ...BASE, BATCH_JOBS: '0', SUBJECT_CACHE_MB: '-1', VISION_CACHE_MB: 'lots' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.equal(err.problems.length, 3);
  for (const name of ['BATCH_JOBS', 'SUBJECT_CACHE_MB', 'VISION_CACHE_MB']) assert.ok(err.problems.some((p) => p.startsWith(name)), name);
});

test('a ConfigError names a bad variable without echoing its value (a token pasted into the wrong variable stays out of the output)', () => {
  const pasted = 'MTA5ODc2NTQzMjE.secret-token-value.abcdefghijklmnop';
  let err: unknown;
  try {
    loadConfig({ ...BASE, DISCORD_CLIENT_ID: pasted, REDIS_URL: pasted, DEVICE: pasted, MODEL_SLOTS: pasted });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(err.problems.map((p) => p.split(' ')[0]).sort(), ['DEVICE', 'DISCORD_CLIENT_ID', 'MODEL_SLOTS', 'REDIS_URL']);
  assert.doesNotMatch(err.message, /secret-token-value/);
});

test('jobs have a run deadline (900 s) and workers a stall limit (120 s) by default; both can be set, and a deadline under 10 s is refused', () => {
  const c = loadConfig({ ...BASE });
  assert.deepEqual([c.maxRunMs, c.engineStallMs], [900_000, 120_000]);
  const set = loadConfig({ ...BASE, MAX_RUN_SECONDS: '60', ENGINE_STALL_SECONDS: '30' });
  assert.deepEqual([set.maxRunMs, set.engineStallMs], [60_000, 30_000]);
  assert.throws(() => loadConfig({ ...BASE, MAX_RUN_SECONDS: '5' }), (e: unknown) => e instanceof ConfigError && e.problems.length === 1 && e.problems[0].startsWith('MAX_RUN_SECONDS'));
});

test('SCORER: dino with a SCORER_DIR, else none; dino and clip need the folder; anything else is refused by name', () => {
  assert.equal(loadConfig({ ...BASE }).scorer, 'none');
  assert.deepEqual([loadConfig({ ...BASE, SCORER_DIR: 'scorers' }).scorer, loadConfig({ ...BASE, SCORER_DIR: 'scorers' }).scorerDir], ['dino', 'scorers']);
  assert.equal(loadConfig({ ...BASE, SCORER: 'self' }).scorer, 'self');
  assert.throws(() => loadConfig({ ...BASE, SCORER: 'clip' }), (e: unknown) => e instanceof ConfigError && /SCORER clip needs SCORER_DIR/.test(e.problems[0]));
  assert.throws(() => loadConfig({ ...BASE, SCORER: 'best' }), (e: unknown) => e instanceof ConfigError && e.problems[0] === 'SCORER must be dino, clip, self or none');
});

test('SHARDS (auto or a number) is refused without JOB_QUEUE=redis, with a line naming both; with the Redis queue it is read as given', () => {
  for (const shards of ['2', 'auto']) {
    let err: unknown;
    try {
      loadConfig({ ...BASE, SHARDS: shards });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `SHARDS=${shards} without JOB_QUEUE=redis was accepted`);
    assert.equal(err.problems.length, 1);
    assert.match(err.problems[0], /^SHARDS needs JOB_QUEUE=redis/);
  }
  const redis = { ...BASE, JOB_QUEUE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' };
  assert.equal(loadConfig({ ...redis, SHARDS: '2' }).shards, 2);
  assert.equal(loadConfig({ ...redis, SHARDS: 'auto' }).shards, 'auto');
  assert.equal(loadConfig({ ...redis }).shards, undefined);
});

test('JOB_QUEUE: empty or unset is local; redis without REDIS_URL is refused with a line naming both; a typo is refused', () => {
  assert.equal(loadConfig({ ...BASE }).jobQueue, 'local');
  assert.equal(loadConfig({ ...BASE, JOB_QUEUE: '' }).jobQueue, 'local');
  assert.equal(loadConfig({ ...BASE, JOB_QUEUE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379' }).jobQueue, 'redis');
  assert.throws(() => loadConfig({ ...BASE, JOB_QUEUE: 'redis' }), (err: unknown) => err instanceof ConfigError && /^JOB_QUEUE redis needs REDIS_URL/.test(err.problems[0]));
  assert.throws(() => loadConfig({ ...BASE, JOB_QUEUE: 'rediss' }), (err: unknown) => err instanceof ConfigError && /JOB_QUEUE must be local or redis/.test(err.problems.join('\n')));
});

test('npm run worker: REDIS_URL is required (a line saying so), WORKER_LOCK_SECONDS becomes ms, HEALTH_PORT is read when set', () => {
  assert.throws(() => loadWorkerConfig({}), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => /^REDIS_URL is required/.test(p)));
  assert.throws(() => loadWorkerConfig({ REDIS_URL: 'http://x' }), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => /^REDIS_URL must start with redis:\/\//.test(p)));
  const c = loadWorkerConfig({ REDIS_URL: 'redis://127.0.0.1:6379', WORKER_LOCK_SECONDS: '7', HEALTH_PORT: '8080', BATCH_JOBS: '2' });
  assert.deepEqual([c.lockMs, c.healthPort, c.batchJobs, c.scorer], [7000, 8080, 2, 'none']);
  assert.equal(loadWorkerConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).healthPort, undefined);
});

test('MATMUL_ACCURACY and XCOT_GRAPH_CACHE reach the model settings of both processes; unset or empty leaves the model its defaults; a bad accuracy is refused by name', () => {
  const worker = { REDIS_URL: 'redis://127.0.0.1:6379' };
  for (const load of [(env: NodeJS.ProcessEnv) => loadConfig({ ...BASE, ...env }), (env: NodeJS.ProcessEnv) => loadWorkerConfig({ ...worker, ...env })]) {
    const set = load({ MATMUL_ACCURACY: 'file', XCOT_GRAPH_CACHE: '/tmp/graphs' });
    assert.deepEqual([set.matMulAccuracy, set.graphCacheDir], ['file', '/tmp/graphs']);
    const empty = load({ MATMUL_ACCURACY: '', XCOT_GRAPH_CACHE: '' });
    assert.deepEqual([empty.matMulAccuracy, empty.graphCacheDir], [undefined, undefined]);
  }
  assert.throws(() => loadConfig({ ...BASE, MATMUL_ACCURACY: 'exact' }), (e: unknown) => e instanceof ConfigError && e.problems[0] === 'MATMUL_ACCURACY must be fastest or file');
});

test('every variable .env.example documents is one the configuration reads', () => {
  const documented = [...readFileSync(new URL('../.env.example', import.meta.url), 'utf8').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
  assert.ok(documented.length >= 30, `read ${documented.length} variables from .env.example`);
  assert.deepEqual(documented.filter((name) => !CONFIG_VARIABLES.includes(name)), []);
});
