import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { APIMessage } from 'discord.js';
import type { EmulatorEvent } from '../../src/local-discord/events.ts';
import type { Emulator } from '../../src/local-discord/driver.ts';
import { openStores } from '../../src/store/index.ts';
import { SeededRandom } from '../../src/util/seeded-random.ts';
import { startBotProcess, startWorkerProcess, type EntryProcess } from './cluster-processes.ts';
import { startPetsDiscord } from './pets-discord.ts';
import { findRedisServer, startRedisServer, type RedisServer } from './redis-server.ts';
import { removeTinyBundles, tinyBundle } from './tiny-bundle.ts';
import { ALICE, BOB, CHANNEL_A, GUILD_A, customIds } from '../e2e/harness.ts';

// SIGKILL of the real `npm start` process (src/main.ts) at points spread over a job's life, then a
// restart on the same data folder: every job must end with its image posted exactly once and its
// status (on Discord and in the record) final. In Redis mode (JOB_QUEUE=redis) the gateway, the model
// worker (`npm run worker`) or the redis-server itself is the one killed.
/** What a status says while its job is waiting, running or being posted. */
const IN_PROGRESS = /In the queue|Working on it|Starting|Reading your photos|Drawing|Scoring|thinking/;

/** Where in a job's life a kill lands. */
export const KILL_POINTS = [
  /** Right after the status shows the job queued. */
  'admitted',
  /** At a random moment while the model works on it. */
  'running',
  /** The instant Discord creates the result's thread (before the bot hears back). */
  'thread-created',
  /** While thread creation is held up by a rate limit. */
  'thread-held',
  /** The instant Discord stores the image message (before the bot hears back, so before any record write). */
  'image-posted',
  /** While uploads fail (502) and the bot backs off. */
  'upload-failing',
  /** The instant the status is edited to say done. */
  'status-settled',
] as const;
export type KillPoint = (typeof KILL_POINTS)[number];

/** The process a kill hits: `npm start` (in-process jobs, or the gateway in Redis mode), the model worker, or Redis. */
export type KillTarget = 'bot' | 'worker' | 'redis';

export interface KillRun {
  point: KillPoint;
  target: KillTarget;
  jobs: { jobId: string; statusId: string }[];
}

export interface KillSuite {
  emu: Emulator;
  seed: number;
  /** Submits jobs, kills `target` at `point`, restarts it and waits until every job so far is final. */
  killAt(point: KillPoint, target?: KillTarget): Promise<KillRun>;
  /** Stops the bot gracefully and checks every job ever submitted: posted once, status final on Discord and in the record. */
  verifyAll(): Promise<KillFigures>;
  /** verifyAll, its figures printed with the seed, then asserted: 0 lost, 0 posted twice, 0 stale, no Discord violation. */
  assertNothingLost(): Promise<KillFigures>;
  close(): Promise<void>;
}

/** What a suite's run came to. */
export interface KillFigures {
  /** Kills tried, by kind (`admitted`... in-process; `gateway at admitted`..., `worker`, `redis` in Redis mode). */
  kills: Map<string, number>;
  jobs: number;
  lost: number;
  duplicated: number;
  stale: number;
  /** Each stale job: where its kill was, what its record and status say. */
  staleJobs: string[];
}

/** A test file's kill suite: its seed (printed), `skip` (why, in Redis mode without redis-server), and the suite, started before the file's tests and closed after them. */
export interface FileKillSuite {
  seed: number;
  skip: string | false;
  suite(): KillSuite;
}

/** Registers the file's before/after hooks around one kill suite (call at the top level of a test file). */
export async function killSuiteForFile({ mode = 'local' }: { mode?: 'local' | 'redis' } = {}): Promise<FileKillSuite> {
  const skip = mode === 'redis' && !(await findRedisServer()) ? 'redis-server is not installed (CI installs it; apt-get install redis-server)' : false;
  const seed = killSeed();
  let suite: KillSuite | undefined;
  before(async () => {
    if (!skip) suite = await startKillSuite(seed, { mode });
  });
  after(async () => {
    await suite?.close();
  });
  return {
    seed,
    skip,
    suite() {
      assert.ok(suite, 'the kill suite did not start');
      return suite;
    },
  };
}

/** The seed of this run: KILL_SEED when set (to replay a failure), else a fresh one; printed either way. */
export function killSeed(): number {
  const seed = process.env.KILL_SEED ? Number(process.env.KILL_SEED) : Math.floor(Math.random() * 2 ** 31);
  process.stderr.write(`kill-anywhere seed: ${seed} (replay with KILL_SEED=${seed})\n`);
  return seed;
}

export async function startKillSuite(seed: number, { mode = 'local' }: { mode?: 'local' | 'redis' } = {}): Promise<KillSuite> {
  const rng = new SeededRandom(seed);
  const modelDir = tinyBundle(1);
  const dataDir = mkdtempSync(join(tmpdir(), 'xcot-killany-'));
  const redisDir = mkdtempSync(join(tmpdir(), 'xcot-killany-redis-'));
  let redis: RedisServer | undefined;
  let redisPort = 0;
  const redisBinary = mode === 'redis' ? await findRedisServer() : undefined;
  if (mode === 'redis') {
    assert.ok(redisBinary, 'redis-server is not installed');
    redis = await startRedisServer(redisBinary, { dir: redisDir });
    redisPort = Number(new URL(redis.url).port);
  }
  const emu = await startPetsDiscord();

  let bot: EntryProcess | undefined;
  let worker: EntryProcess | undefined;
  const all: { jobId: string; statusId: string; point: KillPoint; index: number }[] = [];
  let taken = 0;
  const kills = new Map<string, number>();
  const redisEnv = (): NodeJS.ProcessEnv => (redis ? { REDIS_URL: redis.url } : {});

  const start = (): Promise<EntryProcess> =>
    startBotProcess(emu, {
      MODEL_DIR: modelDir,
      DATA_DIR: dataDir,
      BATCH_JOBS: '1',
      MAX_WAITING_PER_USER: '3',
      CONSENT_REQUIRED: 'false',
      LOG_LEVEL: 'warn',
      ...(mode === 'redis' ? { JOB_QUEUE: 'redis' } : {}),
      ...redisEnv(),
    });
  /** `npm run worker`, one job at a time, its BullMQ lock short so that a dead one's job is taken over in seconds. */
  const startWorker = (): Promise<EntryProcess> => startWorkerProcess(redis!.url, { MODEL_DIR: modelDir, DATA_DIR: dataDir, BATCH_JOBS: '1', WORKER_LOCK_SECONDS: '3', LOG_LEVEL: 'warn' });

  const kill = async (): Promise<void> => {
    const child = bot;
    bot = undefined;
    await child?.stop('SIGKILL');
  };

  /** Kills the bot at the first event that matches (or after `ms`, whichever comes first). */
  const killOn = (match: (e: EmulatorEvent) => boolean, ms: number): Promise<void> =>
    new Promise((resolve) => {
      const stop = emu.onEvent((e) => {
        if (!match(e)) return;
        finish();
      });
      const timer = setTimeout(finish, ms);
      function finish(): void {
        stop();
        clearTimeout(timer);
        void bot?.stop('SIGKILL');
        resolve();
      }
    });

  const visible = (statusId: string): APIMessage | undefined => {
    const replies = emu.messages(CHANNEL_A).filter((m) => m.message_reference?.message_id === statusId);
    return replies.at(-1) ?? emu.message(statusId);
  };
  const isFinal = (m: APIMessage | undefined): boolean => !!m && !IN_PROGRESS.test(m.content) && !customIds(m).some((c) => c.startsWith('xcot:cancel:'));
  const posts = (jobId: string): APIMessage[] =>
    [...emu.messages(CHANNEL_A), ...emu.threads(CHANNEL_A).flatMap((t) => emu.messages(t.id))].filter((m) => m.attachments.some((a) => a.filename.startsWith(`xcot-${jobId}-`)));

  const waitAllFinal = async (timeoutMs: number): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && !all.every((j) => isFinal(visible(j.statusId)) && posts(j.jobId).length > 0)) await new Promise((r) => setTimeout(r, 200));
  };

  /** /personalize as a user would send it: again a moment later while the bot is reconnecting or says its storage is away (Redis just restarted). */
  const submit = async (userId: string, index: number): Promise<{ jobId: string; statusId: string }> => {
    const end = Date.now() + 60_000;
    for (;;) {
      let status: APIMessage | undefined;
      try {
        const run = emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'personalize', options: { prompt: `a lighthouse at dusk, kill point ${index}` } });
        status = await run.waitForReply(30_000);
      } catch (err) {
        if (Date.now() > end || !/No bot is connected/.test(String(err))) throw err;
      }
      const cancel = status && customIds(status).find((c) => c.startsWith('xcot:cancel:'));
      if (status && cancel) return { jobId: cancel.split(':')[2], statusId: status.id };
      if (Date.now() > end || (status && !/storage is unavailable/.test(status.content))) assert.fail(`kill point ${index}: the job was not queued: ${status?.content}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };

  const verifyAll = async (): Promise<KillFigures> => {
    await waitAllFinal(60_000);
    await bot?.stop('SIGTERM');
    bot = undefined;
    const stores = await openStores({ dataDir, ...(redis ? { redisUrl: redis.url } : {}) });
    const figures: KillFigures = { kills, jobs: all.length, lost: 0, duplicated: 0, stale: 0, staleJobs: [] };
    try {
      for (const j of all) {
        const n = posts(j.jobId).length;
        if (n === 0) figures.lost++;
        if (n > 1) figures.duplicated++;
        const record = await stores.jobs.get(j.jobId);
        const seen = visible(j.statusId);
        if (!isFinal(seen) || record?.status !== 'done' || !record.messageId) {
          figures.stale++;
          figures.staleJobs.push(`job ${j.jobId} (kill point ${j.index}, ${j.point}): record ${record?.status ?? 'missing'}${record?.messageId ? '' : ' without a message id'}, status "${seen?.content}"`);
        }
      }
    } finally {
      await stores.close();
    }
    return figures;
  };

  if (mode === 'redis') worker = await startWorker();
  bot = await start();

  return {
    emu,
    seed,
    async killAt(point, target = 'bot') {
      const index = taken++;
      const kind = target === 'bot' ? (mode === 'redis' ? `gateway at ${point}` : point) : target;
      kills.set(kind, (kills.get(kind) ?? 0) + 1);
      const began = Date.now();
      if (!bot) bot = await start();
      const isImage = (e: EmulatorEvent) => e.kind === 'message_create' && e.source === 'bot' && Array.isArray(e.message.attachments) && e.message.attachments.length > 0;
      // Faults that hold posting up are set before the job can reach it.
      // A held thread's limit outlives the kill: the restarted process meets it unwarned (a 429, not a violation) and waits it out.
      const heldMs = 3_000 + Math.floor(rng.uniform() * 6_000);
      if (point === 'thread-held') emu.forceRateLimit({ method: 'POST', path: /^\/channels\/\d+\/messages\/\d+\/threads$/, retryAfterMs: heldMs });
      const uploads = point === 'upload-failing' || rng.uniform() < 0.25 ? emu.failRequests({ method: 'POST', route: /^\/channels\/\d+\/messages$/, status: 502, onlyWithFiles: true, times: 4 + Math.floor(rng.uniform() * 4) }) : undefined;
      const users = rng.uniform() < 0.5 ? [ALICE] : [ALICE, BOB];
      const jobs = [];
      for (const user of users) jobs.push(await submit(user, index));
      for (const j of jobs) all.push({ ...j, point, index });
      if (target === 'worker') {
        // The model worker dies mid-run; BullMQ's stalled check gives the job to the restarted one.
        await new Promise((r) => setTimeout(r, 300 + Math.floor(rng.uniform() * 1_500)));
        await worker?.stop('SIGKILL');
        worker = await startWorker();
      } else if (target === 'redis') {
        // Redis dies (no shutdown save) while the jobs run or are posted, and comes back on its files.
        await new Promise((r) => setTimeout(r, 200 + Math.floor(rng.uniform() * 2_000)));
        await redis!.kill();
        await new Promise((r) => setTimeout(r, 500 + Math.floor(rng.uniform() * 3_000)));
        redis = await startRedisServer(redisBinary!, { port: redisPort, dir: redisDir });
      } else {
        switch (point) {
          case 'admitted':
            await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 300)));
            await kill();
            break;
          case 'running':
            await new Promise((r) => setTimeout(r, 200 + Math.floor(rng.uniform() * 1_500)));
            await kill();
            break;
          case 'thread-created':
            await killOn((e) => e.kind === 'thread_create', 30_000);
            await kill();
            break;
          case 'thread-held':
            await new Promise((r) => setTimeout(r, 1_000 + Math.floor(rng.uniform() * 2_000)));
            await kill();
            break;
          case 'image-posted':
            await killOn(isImage, 30_000);
            await kill();
            break;
          case 'upload-failing': {
            const end = Date.now() + 30_000;
            while (uploads && uploads.hits === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
            await new Promise((r) => setTimeout(r, Math.floor(rng.uniform() * 2_500)));
            await kill();
            break;
          }
          case 'status-settled':
            await killOn((e) => e.kind === 'message_update' && /^Done/.test(String(e.message.content ?? '')), 30_000);
            await kill();
            break;
        }
      }
      // Upload failures may go on into the restart for a while (the rest of `times`); a held thread does not.
      if (!bot) bot = await start();
      await waitAllFinal(90_000);
      uploads?.stop();
      if (target === 'redis') {
        // Connection errors go through the JSON logger (stdout), never as raw stack traces on stderr.
        for (const [name, child] of [['gateway', bot], ['worker', worker]] as const) {
          const raw = (child?.stderr() ?? '').split('\n').filter((line) => /ECONNREFUSED|ECONNRESET|^\s+at /.test(line));
          assert.deepEqual(raw.slice(0, 5), [], `seed ${seed}, kill point ${index}: the ${name} printed raw connection errors`);
        }
      }
      process.stderr.write(`kill point ${index}: ${target} at ${point}, ${jobs.length} job(s), all final after ${((Date.now() - began) / 1000).toFixed(1)} s\n`);
      for (const j of jobs) {
        const seen = visible(j.statusId);
        assert.ok(isFinal(seen), `seed ${seed}, kill point ${index} (${target} at ${point}): job ${j.jobId} still "${seen?.content}" after the restart`);
        assert.equal(posts(j.jobId).length, 1, `seed ${seed}, kill point ${index} (${target} at ${point}): job ${j.jobId} posted ${posts(j.jobId).length} times`);
      }
      return { point, target, jobs };
    },
    verifyAll,
    async assertNothingLost() {
      const f = await verifyAll();
      const kinds = [...f.kills].map(([kind, n]) => `${kind} ${n}`).join(', ');
      const taken = [...f.kills.values()].reduce((a, b) => a + b, 0);
      process.stderr.write(`kill-anywhere${mode === 'redis' ? ' (Redis)' : ''}: seed ${seed}, ${taken} kills (${kinds}), ${f.jobs} jobs, ${f.lost} lost, ${f.duplicated} posted twice, ${f.stale} stale\n`);
      for (const line of f.staleJobs) process.stderr.write(`  stale: ${line}\n`);
      assert.deepEqual({ lost: f.lost, duplicated: f.duplicated, stale: f.stale }, { lost: 0, duplicated: 0, stale: 0 }, `seed ${seed}: ${f.staleJobs.join('; ')}`);
      emu.assertNoViolations();
      return f;
    },
    async close() {
      await kill();
      await worker?.stop('SIGKILL');
      await emu.close();
      await redis?.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(redisDir, { recursive: true, force: true });
      removeTinyBundles();
    },
  };
}

/** `count` kill points, every kind in turn, in an order the seed shuffles. */
export function killPlan(seed: number, count: number): KillPoint[] {
  const rng = new SeededRandom(seed ^ 0x5bd1e995);
  const plan: KillPoint[] = [];
  while (plan.length < count) {
    const round = [...KILL_POINTS];
    for (let i = round.length - 1; i > 0; i--) {
      const k = Math.floor(rng.uniform() * (i + 1));
      [round[i], round[k]] = [round[k], round[i]];
    }
    plan.push(...round);
  }
  return plan.slice(0, count);
}

/** The Redis-mode plan: `count` kills, the gateway (at every kill point in turn), the model worker and Redis itself taking turns. */
export function redisKillPlan(seed: number, count: number): { point: KillPoint; target: KillTarget }[] {
  const targets: KillTarget[] = ['bot', 'worker', 'redis'];
  return killPlan(seed, count).map((point, i) => {
    const target = targets[i % 3];
    return { point: target === 'bot' ? point : 'running', target };
  });
}
