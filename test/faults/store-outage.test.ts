import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { ALICE, CHANNEL_A, GUILD_A, photo, startHarness, waitForThreadResult, type Harness } from '../e2e/harness.ts';

// The bot on Redis (REDIS_URL) while Redis goes away and comes back on the same port.

const OUTAGE = /can't save anything right now \(its storage is unavailable\)/;
const INTERNAL = /Something went wrong on our side/;

let binary: string | undefined;
let redis: RedisServer | undefined;
let h: Harness | undefined;

before(async () => {
  binary = await findRedisServer();
  if (!binary) return;
  redis = await startRedisServer(binary);
  h = await startHarness({ config: { redisUrl: redis.url } });
});

after(async () => {
  await h?.close();
  await redis?.stop();
  removeTinyBundles();
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** The reply's final text once the bot stops saying it is thinking or waiting. */
async function settledReply(run: { waitForReply(ms: number): Promise<APIMessage> }, jobDone: (m: APIMessage) => boolean): Promise<APIMessage> {
  const first = await run.waitForReply(30_000);
  if (jobDone(first)) return first;
  const e = h!.emu;
  const event = await e.waitFor((ev) => ev.kind === 'message_update' && ev.message.id === first.id && jobDone(ev.message as unknown as APIMessage), 30_000);
  return (event as Extract<typeof event, { kind: 'message_update' }>).message as unknown as APIMessage;
}

test('Redis down: /personalize and /subject list answer that storage is unreachable (not an internal error, not "gone"); back up, the next image is drawn', async (t) => {
  if (!binary || !h || !redis) {
    t.skip('redis-server is not installed (apt-get install -y redis-server)');
    return;
  }
  const port = Number(new URL(redis.url).port);
  await redis.stop();
  redis = undefined;

  const image1 = h.emu.uploadAttachment(await photo('#3070a0'), 'mug.png', 'image/png', CHANNEL_A);
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'my mug on a beach', image1 } });
  const reply = await settledReply(run, (m) => OUTAGE.test(m.content) || INTERNAL.test(m.content) || /gone|no longer/.test(m.content));
  assert.match(reply.content, OUTAGE);

  const list = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'subject', subcommand: 'list', options: {} });
  assert.match((await list.waitForReply(15_000)).content, OUTAGE);
  assert.equal(h.deps.queue.snapshot().running.length + h.deps.queue.snapshot().waiting.length, 0, 'a job was queued without its record');

  redis = await startRedisServer(binary, { port });
  await waitUntil(async () => h!.deps.stores.jobs.listByUser(ALICE).then(() => true, () => false), 20_000, 'the store to reconnect');
  const since = h.emu.clock.now();
  const again = h.emu.uploadAttachment(await photo('#3070a0'), 'mug.png', 'image/png', CHANNEL_A);
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'my mug on a beach', image1: again } });
  const { result } = await waitForThreadResult(h, since);
  assert.equal(result.attachments.length, 1);
  h.emu.assertNoViolations();
});
