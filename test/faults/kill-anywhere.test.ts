import { test } from 'node:test';
import { killSuiteForFile } from '../helpers/kill-anywhere.ts';

// A few of the kill-anywhere points, one run each, inside npm test; the long seeded run is npm run test:kill.

const kill = await killSuiteForFile();

test('SIGKILL the instant the image message is stored (before the bot hears back): after a restart the image is not posted again and the status and record say done', { timeout: 180_000 }, async () => {
  await kill.suite().killAt('image-posted');
});

test('SIGKILL while uploads fail (502) and the bot backs off: after a restart the drawn image is posted once and the status ends', { timeout: 180_000 }, async () => {
  await kill.suite().killAt('upload-failing');
});

test('SIGKILL right after the status is settled to done: after a restart nothing is posted again and the record says done', { timeout: 180_000 }, async () => {
  await kill.suite().killAt('status-settled');
  await kill.suite().assertNothingLost();
});
