import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { killPlan, killSeed, startKillSuite, type KillSuite } from '../helpers/kill-anywhere.ts';

// The long kill-anywhere run (npm run test:kill; .ci/run runs it with RUN_KILL_SUITE=1): KILL_POINTS kills
// (default 50) of `npm start`, each at a point of a job's life the seed picks, each followed by a restart.

const POINTS = Number(process.env.KILL_POINTS ?? 50);
const seed = killSeed();
let suite: KillSuite;

before(async () => {
  suite = await startKillSuite(seed);
});

after(async () => {
  await suite?.close();
});

test(`${POINTS} SIGKILLs of npm start spread over jobs' lives (admitted, running, thread created or held, image posted, uploads failing, status settled), each followed by a restart: every image posted exactly once, every status final on Discord and in the record`, { timeout: POINTS * 60_000 + 120_000 }, async () => {
  const counts = new Map<string, number>();
  for (const point of killPlan(seed, POINTS)) {
    await suite.killAt(point);
    counts.set(point, (counts.get(point) ?? 0) + 1);
  }
  const result = await suite.verifyAll();
  process.stderr.write(`kill-anywhere: seed ${seed}, ${POINTS} kills (${[...counts].map(([p, n]) => `${p} ${n}`).join(', ')}), ${result.jobs} jobs, ${result.lost} lost, ${result.duplicated} posted twice, ${result.stale} stale\n`);
  assert.deepEqual({ lost: result.lost, duplicated: result.duplicated, stale: result.stale }, { lost: 0, duplicated: 0, stale: 0 }, `seed ${seed}`);
  suite.emu.assertNoViolations();
});
