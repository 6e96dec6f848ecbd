import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ShardClientUtil, type APIMessage, type Client } from 'discord.js';
import { onThisShard } from '../../src/bot/restart-recovery.ts';
import type { Emulator } from '../../src/local-discord/driver.ts';
import { waitUntilAnswering } from '../helpers/bot-answers.ts';
import { startGuildsDiscord } from '../helpers/pets-discord.ts';
import { spawnEntry, waitForWorkers, type EntryProcess } from '../helpers/cluster-processes.ts';
import { findRedisServer, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { removeTinyBundles, tinyBundle } from '../helpers/tiny-bundle.ts';
import { ALICE, APP_ID, BOB, TOKEN, customIds } from '../e2e/harness.ts';

// `npm start` with SHARDS=2 (a ShardingManager and two shard processes) and one model worker, a real
// redis-server between them, the local Discord in front with one guild on each shard.

const GUILD_0 = '1200000000004194315';
const CHANNEL_0 = '1200000000004194316';
const GUILD_1 = '1200000000000000011';
const CHANNEL_1 = '1200000000000000012';
const GUILDS = [
  { guildId: GUILD_0, channelId: CHANNEL_0, shard: 0 },
  { guildId: GUILD_1, channelId: CHANNEL_1, shard: 1 },
];

const redisBinary = await findRedisServer();
const skip = redisBinary ? false : 'redis-server is not installed (apt-get install -y redis-server)';

let emu: Emulator;
let redis: RedisServer | undefined;
let dataDir: string | undefined;
let modelDir: string;
let gateway: EntryProcess | undefined;
let worker: EntryProcess | undefined;

before(async () => {
  if (skip) return;
  modelDir = tinyBundle(1);
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-shards-'));
  redis = await startRedisServer(redisBinary!);
  emu = await startGuildsDiscord(GUILDS, [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }]);
});

after(async () => {
  await Promise.all([gateway?.stop('SIGKILL'), worker?.stop('SIGKILL')]);
  await emu?.close();
  await redis?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shards of the bot's connected gateway sessions, as the emulator saw them in IDENTIFY. */
function connectedShards(): [number, number][] {
  // The emulator keeps its sessions to itself; this test reads them without widening its API.
  const gw = (emu as unknown as { core: { gateway: { sessions: Map<string, { shard: [number, number]; socket: unknown }> } } }).core.gateway;
  return [...gw.sessions.values()].filter((s) => s.socket).map((s) => s.shard).sort((a, b) => a[0] - b[0]);
}

/** Both shards answer (a /queue probe in each guild). */
function waitUntilBothShardsAnswer(): Promise<void> {
  return waitUntilAnswering(emu, GUILDS, BOB, 150_000);
}

/** The processes a process forked (a ShardingManager's shards). */
function childPids(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Messages in the channel and its threads that carry the job's image (file names carry the job id). */
function posts(channelId: string, jobId: string): APIMessage[] {
  const everywhere = [...emu.messages(channelId), ...emu.threads(channelId).flatMap((t) => emu.messages(t.id))];
  return everywhere.filter((m) => m.attachments.some((a) => a.filename.startsWith(`xcot-${jobId}-`)));
}

function startWorker(): EntryProcess {
  return spawnEntry('src/worker-main.ts', {
    REDIS_URL: redis!.url,
    MODEL_DIR: modelDir,
    DATA_DIR: dataDir,
    BATCH_JOBS: '1',
    WORKER_LOCK_SECONDS: '5',
    LOG_LEVEL: 'warn',
  });
}

function startGateway(shards = '2'): EntryProcess {
  return spawnEntry('src/main.ts', {
    DISCORD_TOKEN: TOKEN,
    DISCORD_CLIENT_ID: APP_ID,
    DISCORD_API_BASE: emu.restBase,
    SHARDS: shards,
    JOB_QUEUE: 'redis',
    REDIS_URL: redis!.url,
    MODEL_DIR: modelDir,
    DATA_DIR: dataDir,
    CONSENT_REQUIRED: 'false',
    LOG_LEVEL: 'warn',
  });
}

/** A /personalize in each guild; each must be queued (its status has a Cancel button). */
async function personalizeInEachGuild(prompt: string): Promise<{ channelId: string; jobId: string }[]> {
  const jobs: { channelId: string; jobId: string }[] = [];
  for (const { guildId, channelId } of GUILDS) {
    const status = await emu.runSlashCommand({ guildId, channelId, userId: ALICE, name: 'personalize', options: { prompt: `${prompt} in ${guildId}` } }).waitForReply(30_000);
    const cancel = customIds(status).find((c) => c.startsWith('xcot:cancel:'));
    assert.ok(cancel, `the job in guild ${guildId} was not queued: ${status.content}`);
    jobs.push({ channelId, jobId: cancel.split(':')[2] });
  }
  return jobs;
}

async function assertPostedOnce(jobs: { channelId: string; jobId: string }[]): Promise<void> {
  const end = Date.now() + 180_000;
  while (Date.now() < end && !jobs.every((j) => posts(j.channelId, j.jobId).length > 0)) {
    await Promise.race([sleep(250), gateway!.exited, worker!.exited]);
  }
  // A second post, by the other shard, would come right after the first.
  await sleep(2_000);
  for (const j of jobs) assert.equal(posts(j.channelId, j.jobId).length, 1, `job ${j.jobId} in channel ${j.channelId}: image posts`);
}

test(
  'SHARDS=2 with JOB_QUEUE=redis: npm start runs two shard processes that identify as [0,2] and [1,2]; a /personalize in a guild of each shard is queued, run by the model worker, and its image posted once; no violations',
  { skip, timeout: 300_000 },
  async () => {
    for (const { guildId, shard } of GUILDS) assert.equal(ShardClientUtil.shardIdForGuildId(guildId, 2), shard, `the test's guild ${guildId} is not on shard ${shard}`);
    worker = startWorker();
    gateway = startGateway();
    await Promise.race([Promise.all([waitForWorkers(redis!.url, 1), waitUntilBothShardsAnswer()]), gateway.exited, worker.exited]);
    assert.deepEqual(connectedShards(), [[0, 2], [1, 2]]);

    const jobs = await personalizeInEachGuild('a lighthouse at dusk');
    await assertPostedOnce(jobs);
    emu.assertNoViolations();
  },
);

test(
  'kill -9 of the manager and both shards with a job waiting in each guild (no model worker up): after npm start again and a worker, each image is posted once; no violations',
  { skip, timeout: 300_000 },
  async () => {
    assert.ok(gateway && worker, 'the first test did not start the processes');
    assert.equal((await worker.stop('SIGTERM')).code, 0, 'the model worker did not stop cleanly');
    await waitForWorkers(redis!.url, 0);
    const jobs = await personalizeInEachGuild('a red kite over the sea');
    await gateway.stop('SIGKILL');

    gateway = startGateway();
    await Promise.race([waitUntilBothShardsAnswer(), gateway.exited]);
    assert.deepEqual(connectedShards(), [[0, 2], [1, 2]]);
    worker = startWorker();
    await Promise.race([waitForWorkers(redis!.url, 1), worker.exited]);
    await assertPostedOnce(jobs);
    emu.assertNoViolations();
  },
);

test('a shard process killed with SIGKILL is started again by the manager: it identifies with its shard again and its guild is answered', { skip, timeout: 180_000 }, async () => {
  assert.ok(gateway, 'the first test did not start the processes');
  const before = childPids(gateway.child.pid!);
  assert.equal(before.length, 2, `shard processes: ${before.join(', ')}`);
  process.kill(before[1], 'SIGKILL');
  await waitUntil(() => connectedShards().length === 1, 10_000, 'the killed shard to drop its gateway connection');
  await Promise.race([waitUntil(() => connectedShards().length === 2, 150_000, 'the shard to come back'), gateway.exited]);
  assert.deepEqual(connectedShards(), [[0, 2], [1, 2]]);
  const after = childPids(gateway.child.pid!);
  assert.equal(after.length, 2);
  assert.ok(after.includes(before[0]) && !after.includes(before[1]), `shards before ${before.join(', ')}, after ${after.join(', ')}`);
  await waitUntilBothShardsAnswer();
  emu.assertNoViolations();
});

test('SIGTERM to the manager stops both shards gracefully: their gateway sessions end and it exits 0', { skip, timeout: 120_000 }, async () => {
  assert.ok(gateway, 'the first test did not start the processes');
  const started = Date.now();
  const { code, signal } = await gateway.stop('SIGTERM', 90_000);
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
  assert.ok(Date.now() - started < 60_000, `stopping took ${Date.now() - started} ms`);
  assert.deepEqual(connectedShards(), []);
  emu.assertNoViolations();
});

test('SHARDS=auto takes the count from DISCORD_API_BASE\'s GET /gateway/bot (the emulator says 1): one shard identifies as [0,1] and answers in both guilds', { skip, timeout: 180_000 }, async () => {
  gateway = startGateway('auto');
  await Promise.race([waitUntilBothShardsAnswer(), gateway.exited]);
  assert.deepEqual(connectedShards(), [[0, 1]]);
  emu.assertNoViolations();
});

test('SIGKILL of the manager alone: its shard process stops by itself and ends its gateway session', { skip, timeout: 120_000 }, async () => {
  assert.ok(gateway, 'the previous test did not start the gateway');
  const shards = childPids(gateway.child.pid!);
  assert.equal(shards.length, 1, `shard processes: ${shards.join(', ')}`);
  process.kill(gateway.child.pid!, 'SIGKILL');
  await waitUntil(() => !alive(shards[0]), 60_000, 'the orphaned shard to exit');
  assert.deepEqual(connectedShards(), []);
  emu.assertNoViolations();
});

test('onThisShard: without a ShardingManager every job is this process\'s; with one, a guild job belongs to shard (guild_id >> 22) % count, and a DM job to shard 0', () => {
  const shardClient = (ids: number[], count: number) => ({ shard: { ids, count } }) as unknown as Client;
  assert.equal(onThisShard({ shard: null } as unknown as Client, GUILD_1), true);
  assert.equal(onThisShard({ shard: null } as unknown as Client, null), true);
  assert.deepEqual(
    GUILDS.map(({ guildId }) => [onThisShard(shardClient([0], 2), guildId), onThisShard(shardClient([1], 2), guildId)]),
    [[true, false], [false, true]],
  );
  assert.deepEqual([onThisShard(shardClient([0], 2), null), onThisShard(shardClient([1], 2), null)], [true, false]);
});
