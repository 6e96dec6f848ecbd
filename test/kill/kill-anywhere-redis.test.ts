import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { findRedisServer } from '../helpers/redis-server.ts';
import { killSeed, redisKillPlan, startKillSuite, type KillSuite } from '../helpers/kill-anywhere.ts';

// The long kill-anywhere run in Redis mode (npm run test:kill): KILL_POINTS_REDIS kills (default 20), the
// gateway (`npm start`, JOB_QUEUE=redis), the model worker (`npm run worker`) and redis-server taking
// turns, each SIGKILLed at a point the seed picks and started again.

const POINTS = Number(process.env.KILL_POINTS_REDIS ?? 20);
const skip = (await findRedisServer()) ? false : 'redis-server is not installed (CI installs it; apt-get install redis-server)';
const seed = killSeed();
let suite: KillSuite;

before(async () => {
  if (!skip) suite = await startKillSuite(seed, { mode: 'redis' });
});

after(async () => {
  await suite?.close();
});

test(`Redis mode: ${POINTS} SIGKILLs of the gateway, the model worker or redis-server over jobs' lives, each followed by a restart: every image posted exactly once, every status final on Discord and in the record`, { skip, timeout: POINTS * 90_000 + 120_000 }, async () => {
  const counts = new Map<string, number>();
  for (const { point, target } of redisKillPlan(seed, POINTS)) {
    await suite.killAt(point, target);
    const key = target === 'bot' ? `gateway at ${point}` : target;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const result = await suite.verifyAll();
  process.stderr.write(`kill-anywhere (Redis): seed ${seed}, ${POINTS} kills (${[...counts].map(([p, n]) => `${p} ${n}`).join(', ')}), ${result.jobs} jobs, ${result.lost} lost, ${result.duplicated} posted twice, ${result.stale} stale\n`);
  assert.deepEqual({ lost: result.lost, duplicated: result.duplicated, stale: result.stale }, { lost: 0, duplicated: 0, stale: 0 }, `seed ${seed}`);
  suite.emu.assertNoViolations();
});
