import { test } from 'node:test';
import { killPlan, killSuiteForFile } from '../helpers/kill-anywhere.ts';

// The long kill-anywhere run (npm run test:kill): KILL_POINTS kills (default 50) of `npm start`, each at a
// point of a job's life the seed picks, each followed by a restart.

const POINTS = Number(process.env.KILL_POINTS ?? 50);
const kill = await killSuiteForFile();

test(`${POINTS} SIGKILLs of npm start spread over jobs' lives (admitted, running, thread created or held, image posted, uploads failing, status settled), each followed by a restart: every image posted exactly once, every status final on Discord and in the record`, { timeout: POINTS * 60_000 + 120_000 }, async () => {
  for (const point of killPlan(kill.seed, POINTS)) await kill.suite().killAt(point);
  await kill.suite().assertNothingLost();
});
