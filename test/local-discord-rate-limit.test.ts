import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REST, Routes } from 'discord.js';
import { startEmulator } from '../src/local-discord/driver.ts';
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
  const limiter = new RateLimiter(2, 60_000);
  limiter.check(BUCKET, 'POST', PATH);
  limiter.check(BUCKET, 'POST', PATH);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true, 'the first client was told');
  limiter.newClient();
  const first = limiter.check(BUCKET, 'POST', PATH).limited;
  assert.equal(first?.error.status, 429);
  assert.equal(first?.isViolation, false, 'a restarted process could not have known');
  const second = limiter.check(BUCKET, 'POST', PATH).limited;
  assert.equal(second?.isViolation, false, 'the first 429 reached it before it knew the hash, so under the route, not the hash');
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true, 'the second 429 told it under the hash');
});

test('a limit told on a route\'s first request (before its hash was known) is not known to the next request, which gets a 429 without a violation and is then held to it', () => {
  const limiter = new RateLimiter(50, 60_000);
  limiter.force({ method: 'POST', path: PATH, retryAfterMs: 5_000 });
  const forced = limiter.check(BUCKET, 'POST', PATH);
  assert.equal(forced.limited?.error.status, 429);
  assert.ok(forced.headers['x-ratelimit-bucket'], 'the 429 tells the hash');
  const next = limiter.check(BUCKET, 'POST', PATH).limited;
  assert.equal(next?.error.status, 429, 'the bucket is still limited');
  assert.equal(next?.isViolation, false);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true);
});

test('a limit told under a route\'s known hash holds for the next request at once, also when the 429 was forced', () => {
  const limiter = new RateLimiter(50, 60_000);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited, undefined, 'a first request tells the hash');
  limiter.force({ method: 'POST', path: PATH, retryAfterMs: 5_000 });
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, false);
  assert.equal(limiter.check(BUCKET, 'POST', PATH).limited?.isViolation, true);
});

test('real discord.js: a 429 on a route\'s first request, then a second request while the first waits out retry_after: both are sent, neither is a violation', { timeout: 30_000 }, async () => {
  const TOKEN = 'emulated.bot-token.for-tests';
  const CHANNEL = '1200000000000000002';
  const emu = await startEmulator({
    token: TOKEN,
    applicationId: '1100000000000000001',
    guilds: [{ id: '1200000000000000001', name: 'Pets', channels: [{ id: CHANNEL, name: 'art' }], members: [{ id: '1300000000000000001', username: 'alice' }] }],
  });
  const rest = new REST({ api: emu.restBase }).setToken(TOKEN);
  try {
    emu.forceRateLimit({ method: 'POST', path: `/channels/${CHANNEL}/messages`, retryAfterMs: 1_000 });
    const first = rest.post(Routes.channelMessages(CHANNEL), { body: { content: 'first' } });
    // discord.js learns the bucket hash from the 429 and files the next request under a new handler with no limit yet.
    await new Promise((r) => setTimeout(r, 200));
    const second = rest.post(Routes.channelMessages(CHANNEL), { body: { content: 'second' } });
    await Promise.all([first, second]);
    assert.deepEqual(emu.messages(CHANNEL).map((m) => m.content).sort(), ['first', 'second']);
    emu.assertNoViolations();
  } finally {
    await emu.close();
  }
});
