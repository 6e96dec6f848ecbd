import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../src/local-discord/rate-limit.ts';

const BUCKET = 'POST /channels/:channel_id/messages/:message_id/threads|1';
const PATH = '/channels/1/messages/2/threads';

test('a request into a bucket whose exhaustion was advertised to the same client is a violation', () => {
  const limiter = new RateLimiter(2, 60_000);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited, undefined);
  const second = limiter.check(BUCKET, 'POST', PATH);
  assert.equal(second.limited, undefined);
  assert.equal(second.headers['x-ratelimit-remaining'], '0');
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true);
});

test('a client that identified after the limit was advertised gets the 429 without a violation, then is held to it', () => {
  const limiter = new RateLimiter(1, 60_000);
  limiter.check(BUCKET, 'POST', PATH);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true, 'the first client was told');
  limiter.newClient();
  const first = limiter.check(BUCKET, 'POST', PATH).limited;
  assert.equal(first?.error.status, 429);
  assert.equal(first?.isViolation, false, 'a restarted process could not have known');
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true, 'the 429 told it');
});
