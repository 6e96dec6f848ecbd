import { test } from 'node:test';
import { killSuiteForFile, redisKillPlan } from '../helpers/kill-anywhere.ts';

// The long kill-anywhere run in Redis mode (npm run test:kill): KILL_POINTS_REDIS kills (default 20), the
// gateway (`npm start`, JOB_QUEUE=redis), the model worker (`npm run worker`) and redis-server taking
// turns, each SIGKILLed at a point the seed picks and started again.

const POINTS = Number(process.env.KILL_POINTS_REDIS ?? 20);
const kill = await killSuiteForFile({ mode: 'redis' });

test(`Redis mode: ${POINTS} SIGKILLs of the gateway, the model worker or redis-server over jobs' lives, each followed by a restart: every image posted exactly once, every status final on Discord and in the record`, { skip: kill.skip, timeout: POINTS * 90_000 + 120_000 }, async () => {
  for (const { point, target } of redisKillPlan(kill.seed, POINTS)) await kill.suite().killAt(point, target);
  await kill.suite().assertNothingLost();
});
