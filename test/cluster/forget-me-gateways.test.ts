import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ShardClientUtil } from 'discord.js';
import { Redis } from 'ioredis';
import { FORGOTTEN_NOTE } from '../../src/bot/delivery/delivery-result.ts';
import type { Emulator } from '../../src/local-discord/driver.ts';
import { waitUntilAnswering } from '../helpers/bot-answers.ts';
import { startGuildsDiscord } from '../helpers/pets-discord.ts';
import { describe, scan, total, type Needle } from '../helpers/byte-scan.ts';
import { spawnEntry, waitForWorkers, type EntryProcess } from '../helpers/cluster-processes.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { removeTinyBundles, tinyBundle } from '../helpers/tiny-bundle.ts';
import { APP_ID, BOB, TOKEN, customIds } from '../e2e/harness.ts';

// JOB_QUEUE=redis with two gateways (SHARDS=2: two shard processes) on a real redis-server and one model
// worker: /subject forget-me run on one gateway while the other is posting the user's image.

const CAROL = '639472210987654323';
const GUILD_0 = '1200000000004194315';
const CHANNEL_0 = '1200000000004194316';
const GUILD_1 = '1200000000000000011';
const CHANNEL_1 = '1200000000000000012';
const GUILDS = [
  { guildId: GUILD_0, channelId: CHANNEL_0, shard: 0 },
  { guildId: GUILD_1, channelId: CHANNEL_1, shard: 1 },
];
const PROMPT = 'carol prompt: a teapot sailing a canal at noon';
const EPHEMERAL = 1 << 6;

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (apt-get install -y redis-server)';

let emu: Emulator;
let redis: RedisServer | undefined;
let dataDir: string | undefined;
let gateway: EntryProcess | undefined;
let worker: EntryProcess | undefined;

before(async () => {
  if (skip) return;
  const modelDir = tinyBundle(1);
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-forget-gateways-'));
  redis = await startRedisServer(redisBinary!);
  emu = await startGuildsDiscord(GUILDS, [{ id: CAROL, username: 'carol' }, { id: BOB, username: 'bob' }]);
  const common = { REDIS_URL: redis.url, MODEL_DIR: modelDir, DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
  worker = spawnEntry('src/worker-main.ts', { ...common, BATCH_JOBS: '1', WORKER_LOCK_SECONDS: '5' });
  gateway = spawnEntry('src/main.ts', {
    ...common,
    DISCORD_TOKEN: TOKEN,
    DISCORD_CLIENT_ID: APP_ID,
    DISCORD_API_BASE: emu.restBase,
    SHARDS: '2',
    JOB_QUEUE: 'redis',
    CONSENT_REQUIRED: 'false',
  });
  await Promise.race([Promise.all([waitForWorkers(redis.url, 1), waitUntilAnswering(emu, GUILDS, BOB, 150_000)]), gateway.exited, worker.exited]);
});

after(async () => {
  await Promise.all([gateway?.stop('SIGKILL'), worker?.stop('SIGKILL')]);
  await emu?.close();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Forced rate limits the emulator has not handed out yet (read without widening its API, as sharding.test.ts reads its sessions). */
function forcedLeft(): number {
  return (emu as unknown as { limiter: { forced: unknown[] } }).limiter.forced.length;
}

/** Keys of the test's redis-server whose name or value holds a needle, as `key: label`. */
async function redisKeysHolding(needles: Needle[]): Promise<string[]> {
  const client = new Redis(redis!.url);
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scanBuffer(cursor, 'COUNT', 500);
      cursor = next.toString();
      for (const keyBytes of keys) {
        const key = keyBytes.toString('latin1');
        const type = await client.type(key);
        const parts: Buffer[] = [keyBytes];
        if (type === 'string') parts.push((await client.getBuffer(key)) ?? Buffer.alloc(0));
        else if (type === 'hash') parts.push(...Object.entries(await client.hgetallBuffer(key)).flatMap(([k, v]) => [Buffer.from(k), v]));
        else if (type === 'list') parts.push(...(await client.lrangeBuffer(key, 0, -1)));
        else if (type === 'set') parts.push(...(await client.smembersBuffer(key)));
        else if (type === 'zset') parts.push(...(await client.zrangeBuffer(key, 0, -1)));
        else if (type === 'stream') parts.push(Buffer.from(JSON.stringify(await client.xrange(key, '-', '+'))));
        const bytes = Buffer.concat(parts);
        for (const n of needles) if (bytes.includes(n.bytes)) found.push(`${key}: ${n.label}`);
      }
    } while (cursor !== '0');
    return found;
  } finally {
    client.disconnect();
  }
}

test(
  'JOB_QUEUE=redis, two gateways: /subject forget-me on shard 0 while shard 1 posts the user\'s image (thread creation rate-limited 9 s) answers only after shard 1 stopped that posting; nothing is posted, no byte of the user is in the data folder or Redis',
  { skip, timeout: 240_000 },
  async () => {
    for (const { guildId, shard } of GUILDS) assert.equal(ShardClientUtil.shardIdForGuildId(guildId, 2), shard, `the test's guild ${guildId} is not on shard ${shard}`);
    emu.forceRateLimit({ method: 'POST', path: /^\/channels\/\d+\/messages\/\d+\/threads$/, retryAfterMs: 9_000 });
    const since = emu.eventCursor();
    const status = await emu.runSlashCommand({ guildId: GUILD_1, channelId: CHANNEL_1, userId: CAROL, name: 'personalize', options: { prompt: PROMPT, seed: 5 } }).waitForReply(30_000);
    const cancel = customIds(status).find((c) => c.startsWith('xcot:cancel:'));
    assert.ok(cancel, `the job was not queued: ${status.content}`);
    const jobId = cancel.split(':')[2];
    // Drawn, and shard 1 is posting it: its thread creation got the 429 and waits 9 s.
    const end = Date.now() + 150_000;
    while (forcedLeft() > 0) {
      if (Date.now() > end) assert.fail('the result\'s thread creation was never asked for');
      await Promise.race([sleep(50), gateway!.exited, worker!.exited]);
    }

    const reply = await emu.runSlashCommand({ guildId: GUILD_0, channelId: CHANNEL_0, userId: CAROL, name: 'subject', subcommand: 'forget-me', options: { confirm: true } }).waitForReply(30_000);
    assert.ok((Number(reply.flags ?? 0) & EPHEMERAL) !== 0);
    assert.match(reply.content, /^Done\. Deleted 0 subjects, 1 image record/);
    // By the time shard 0 says done, shard 1 has stopped its posting (and said so in the status).
    const statusNow = emu.messages(CHANNEL_1).find((m) => m.id === status.id);
    assert.equal(statusNow?.content, FORGOTTEN_NOTE, 'shard 1 was still posting when shard 0 answered done');

    // Past the held thread creation: whatever either gateway did next has happened.
    await sleep(10_000);
    const posted = emu.eventHistory().slice(since).filter((e) => e.kind === 'message_create' && Array.isArray(e.message.attachments) && e.message.attachments.length > 0);
    assert.equal(posted.length, 0, `the forgotten job ${jobId} was posted`);
    const needles: Needle[] = [
      { label: 'Carol id', bytes: Buffer.from(CAROL) },
      { label: 'prompt', bytes: Buffer.from(PROMPT) },
    ];
    const onDisk = await scan(dataDir!, needles);
    assert.equal(total(onDisk), 0, describe(onDisk));
    assert.deepEqual(await redisKeysHolding(needles), [], 'Redis keys that still hold the user\'s bytes');
    emu.assertNoViolations();
  },
);
