import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpacedEdits } from '../src/bot/status/spaced-edits.ts';

test('status edits: requests while one is pending go out as one, spaced by the interval; stop drops the pending one and refuses more', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const sent: number[] = [];
  const edits = new SpacedEdits(() => sent.push(Date.now()), 3000);
  edits.sentNow();
  for (let i = 0; i < 5; i++) edits.request();
  t.mock.timers.tick(2999);
  assert.deepEqual(sent, [], 'not before the interval since the edit sent by other means');
  t.mock.timers.tick(1);
  assert.deepEqual(sent, [1_003_000], 'five requests, one edit');
  t.mock.timers.tick(10_000);
  edits.request();
  t.mock.timers.tick(0);
  assert.deepEqual(sent, [1_003_000, 1_013_000], 'after a quiet spell the next edit goes out at once');
  edits.request();
  t.mock.timers.tick(1000);
  edits.stop();
  t.mock.timers.tick(5000);
  edits.request();
  t.mock.timers.tick(5000);
  assert.deepEqual(sent, [1_003_000, 1_013_000], 'nothing after stop');
});
