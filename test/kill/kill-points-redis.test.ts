import { test } from 'node:test';
import { killSuiteForFile } from '../helpers/kill-anywhere.ts';

// Two chosen Redis-mode kill points (npm run test:kill, beside the long seeded run).

const kill = await killSuiteForFile({ mode: 'redis' });

test('Redis mode: SIGKILL of the gateway the instant its image message is stored: the restarted gateway (the dead one\'s claim lapsed with its liveness) records the post, posts nothing again, and the status ends', { skip: kill.skip, timeout: 180_000 }, async () => {
  await kill.suite().killAt('image-posted', 'bot');
});

test('Redis mode: SIGKILL of redis-server while a job runs, started again on its files: the job is posted once, its status and record final', { skip: kill.skip, timeout: 180_000 }, async () => {
  await kill.suite().killAt('running', 'redis');
  await kill.suite().assertNothingLost();
});
