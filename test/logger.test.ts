import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { DiscordAPIError } from 'discord.js';
import { createLogger } from '../src/util/logger.ts';
import { oncePerOutage } from '../src/util/outage-log.ts';

function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) });
  return { logger: createLogger('info', stream), lines };
}

const TOKEN = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldHNlY3JldHNlY3JldA';

test('a failed Discord request is logged without its body (prompt, image bytes) or the interaction token in its URL', () => {
  const { logger, lines } = capture();
  const png = Buffer.alloc(1_200_000, 7);
  const err = new DiscordAPIError({ message: 'Bad Gateway', code: 0 }, 0, 502, 'POST', `https://discord.com/api/v10/webhooks/123456/${TOKEN}/messages/@original`, {
    files: [{ name: 'xcot-1.png', data: png }],
    body: { content: 'my private prompt about my dog' },
  });
  logger.error({ err, job: 'j1' }, 'result post failed');
  assert.equal(lines.length, 1);
  const line = lines[0];
  assert.ok(line.length < 4000, `${line.length} bytes`);
  assert.ok(!line.includes(TOKEN));
  assert.ok(!line.includes('my private prompt'));
  const record = JSON.parse(line);
  assert.equal(record.err.status, 502);
  assert.equal(record.err.method, 'POST');
  assert.equal(record.err.url, 'https://discord.com/api/v10/webhooks/123456/[token]/messages/@original');
  assert.equal(record.job, 'j1');
});

test('a bot token inside an error message or its cause is replaced', () => {
  const { logger, lines } = capture();
  const bot = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123';
  logger.warn({ err: new Error('login failed', { cause: new Error(`token ${bot} rejected`) }) }, 'client error');
  assert.ok(!lines[0].includes(bot));
  assert.match(JSON.parse(lines[0]).err.cause.message, /token \[token\] rejected/);
});

test("a store outage's one line keeps the connection error's message and code", () => {
  const { logger, lines } = capture();
  const tell = oncePerOutage((fields, msg) => logger.error(fields, msg), 'store');
  tell(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' }));
  tell(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' }));
  assert.equal(lines.length, 1, 'once per outage');
  const record = JSON.parse(lines[0]);
  assert.deepEqual(record.err, { message: 'connect ECONNREFUSED 127.0.0.1:6390', code: 'ECONNREFUSED' });
  assert.equal(record.msg, 'store unavailable; retrying until it is back');
});
