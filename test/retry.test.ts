import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retrying } from '../src/bot/retry.ts';

const dropped = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

test('retrying: a transient failure is tried again after each pause, and the last error is thrown when the pauses run out', async () => {
  let calls = 0;
  await assert.rejects(
    retrying(async () => {
      calls++;
      throw dropped();
    }, [1, 1]),
    /socket hang up/,
  );
  assert.equal(calls, 3);
});

test('retrying: an abort during a 60 s pause ends it at once and throws the last error without another attempt', { timeout: 5_000 }, async () => {
  const controller = new AbortController();
  let calls = 0;
  const started = Date.now();
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(
    retrying(async () => {
      calls++;
      throw dropped();
    }, [60_000, 60_000], { signal: controller.signal }),
    /socket hang up/,
  );
  assert.equal(calls, 1);
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});
