import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { Redis } from 'ioredis';
import { KEYS } from '../../src/jobs/cluster/cluster-names.ts';
import type { Emulator } from '../../src/local-discord/driver.ts';
import { APP_ID, CAROL, CHANNEL_A, GUILD_A, TOKEN } from '../e2e/harness.ts';
import { waitUntilAnswering } from './bot-answers.ts';

const REPO = new URL('../../', import.meta.url).pathname;

export interface EntryProcess {
  child: ChildProcess;
  /** The last 8000 characters it wrote to stderr. */
  stderr(): string;
  /** Rejects (with its stderr) when it exits; for racing against a wait. */
  exited: Promise<never>;
  /** Signals it and everything it forked (its own process group), then waits for it to exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * An entry point of the repo (`src/main.ts`: npm start, `src/worker-main.ts`: npm run worker) in a child
 * process through tsx, with only `env`. Its JSON log (stdout) is dropped, or appended to the file that
 * ENTRY_LOG names (to read what happened when replaying a failure). It leads its own process group, so
 * stop() also reaches the shard processes a ShardingManager forks.
 */
export function spawnEntry(entry: 'src/main.ts' | 'src/worker-main.ts', env: NodeJS.ProcessEnv): EntryProcess {
  const log = process.env.ENTRY_LOG ? openSync(process.env.ENTRY_LOG, 'a') : 'ignore';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, XCOT_GRAPH_CACHE: process.env.XCOT_GRAPH_CACHE, ...env },
    stdio: ['ignore', log, 'pipe'],
    detached: true,
  });
  if (typeof log === 'number') closeSync(log);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
  const ended = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const exited = ended.then(([code, signal]) => {
    throw new Error(`${entry} exited (${code ?? signal}): ${stderr}`);
  });
  exited.catch(() => {});
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  return {
    child,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGKILL', graceMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) {
        if (signal === 'SIGKILL') signalGroup('SIGKILL');
        else child.kill(signal);
      }
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      const [code, sig] = await ended;
      clearTimeout(timer);
      // Whatever it forked and left behind goes too.
      signalGroup('SIGKILL');
      return { code, signal: sig };
    },
  };
}

/** Resolves once exactly `count` model workers are registered in Redis (each renews its key while it takes jobs, and drops it when it stops). */
export async function waitForWorkers(redisUrl: string, count: number, timeoutMs = 120_000): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    const end = Date.now() + timeoutMs;
    while ((await redis.keys(`${KEYS.workerPrefix}*`)).length !== count) {
      if (Date.now() > end) throw new Error(`the model workers registered did not come to ${count} within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * `npm start` (src/main.ts) against the local Discord `emu` (the test server of pets-discord.ts), with
 * the bot's credentials and `env`; resolves once it answers interactions in #art. If it exits or never
 * answers, it is stopped and the error thrown.
 */
export async function startBotProcess(emu: Emulator, env: NodeJS.ProcessEnv): Promise<EntryProcess> {
  const bot = spawnEntry('src/main.ts', { DISCORD_TOKEN: TOKEN, DISCORD_CLIENT_ID: APP_ID, DISCORD_API_BASE: emu.restBase, ...env });
  try {
    await Promise.race([waitUntilAnswering(emu, [{ guildId: GUILD_A, channelId: CHANNEL_A }], CAROL), bot.exited]);
  } catch (err) {
    await bot.stop();
    throw err;
  }
  return bot;
}

/** The model workers registered in Redis now (each renews its key while it takes jobs). */
async function workerKeys(redisUrl: string): Promise<string[]> {
  const redis = new Redis(redisUrl).on('error', () => {});
  try {
    return await redis.keys(`${KEYS.workerPrefix}*`);
  } finally {
    redis.disconnect();
  }
}

/**
 * `npm run worker` (src/worker-main.ts) on `redisUrl` with `env`; resolves once it has registered a key
 * of its own (a dead worker's key may still be there, or lapse meanwhile). Rejects if it exits first.
 */
export async function startWorkerProcess(redisUrl: string, env: NodeJS.ProcessEnv): Promise<EntryProcess> {
  const before = new Set(await workerKeys(redisUrl));
  const worker = spawnEntry('src/worker-main.ts', { REDIS_URL: redisUrl, ...env });
  let exited = false;
  worker.exited.catch(() => (exited = true));
  const registered = (async () => {
    while (!exited && !(await workerKeys(redisUrl)).some((k) => !before.has(k))) await new Promise((r) => setTimeout(r, 100));
  })();
  await Promise.race([registered, worker.exited]);
  return worker;
}
