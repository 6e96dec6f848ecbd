import 'dotenv/config';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { REST, Routes, ShardingManager, type RESTGetAPIGatewayBotResult, type Shard } from 'discord.js';
import type { Logger } from 'pino';
import { startGateway } from './app/gateway.ts';
import { ConfigError, loadGatewayConfig, type GatewayConfig } from './app/config.ts';
import { createLogger } from './util/logger.ts';

/**
 * A process forked by discord.js' ShardingManager (this same file): discord.js sets SHARDING_MANAGER and
 * SHARD_COUNT, and SHARDS to this shard's id, which the Client reads; it is not our SHARDS (auto|N).
 */
const shardChild = process.env.SHARDING_MANAGER === 'true' && process.env.SHARD_COUNT !== undefined;

/** How long a shard may take from its start to its gateway session (store, queue, login). */
const SHARD_READY_MS = 180_000;
/** How long a shard may take to stop after SIGTERM (its bot.stop() waits up to 45 s) before it is killed. */
const SHARD_STOP_MS = 60_000;

/**
 * `npm start`: configuration, store, model, queue, then the Discord connection. With SHARDS set, this
 * process is only a ShardingManager, and each shard runs this file again as one bot.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadGatewayConfig(shardChild ? { ...process.env, SHARDS: undefined } : process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (config.shards !== undefined) await runShards(config, config.shards, logger);
  else await runBot(config, logger);
}

async function runBot(config: GatewayConfig, logger: Logger): Promise<void> {
  const { bot, deps } = await startGateway(config, logger);

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    await bot.stop();
    await deps.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // A shard whose manager is gone (killed) stops too, so a restarted manager does not run it twice.
  if (shardChild) process.on('disconnect', () => void shutdown('manager gone'));
  try {
    await bot.client.login(config.token);
  } catch (err) {
    logger.fatal({ err: { message: (err as Error).message } }, 'could not log in to Discord (check DISCORD_TOKEN, and enable the Message Content intent in the Developer Portal or set MESSAGE_CONTENT=false)');
    await deps.close();
    process.exit(1);
  }
}

/** One shard process per gateway shard (discord.js respawns one that dies); SIGINT/SIGTERM stop them all, each gracefully. */
async function runShards(config: GatewayConfig, shards: number | 'auto', logger: Logger): Promise<void> {
  const totalShards = shards === 'auto' ? await recommendedShardCount(config) : shards;
  const manager = new ShardingManager(fileURLToPath(import.meta.url), {
    totalShards,
    token: config.token,
    respawn: true,
    // This file is TypeScript: the shards load it through tsx, found from here whatever the working folder.
    execArgv: ['--import', import.meta.resolve('tsx')],
  });
  let stopping = false;
  manager.on('shardCreate', (shard: Shard) => {
    shard.on('ready', () => logger.info({ shard: shard.id, of: totalShards }, 'shard connected'));
    shard.on('death', (child) => {
      const exit = { shard: shard.id, code: (child as ChildProcess).exitCode, signal: (child as ChildProcess).signalCode };
      if (stopping) logger.info(exit, 'shard stopped');
      else logger.warn(exit, 'shard exited; starting it again');
    });
  });
  const shutdown = async (signal: string, code: number) => {
    if (stopping) return;
    stopping = true;
    manager.respawn = false;
    logger.info({ signal, shards: manager.shards.size }, 'stopping shards');
    await Promise.all(manager.shards.map((shard) => stopShard(shard, signal as NodeJS.Signals)));
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  logger.info({ shards: totalShards }, 'starting shards');
  try {
    await manager.spawn({ amount: totalShards, timeout: SHARD_READY_MS });
  } catch (err) {
    if (stopping) return;
    logger.fatal({ err: { message: (err as Error).message } }, 'a shard did not connect; stopping the others');
    await shutdown('SIGTERM', 1);
  }
}

async function stopShard(shard: Shard, signal: NodeJS.Signals): Promise<void> {
  const child = shard.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), SHARD_STOP_MS);
  await exited;
  clearTimeout(timer);
}

/** discord.js' own 'auto' always asks discord.com; this asks DISCORD_API_BASE when it is set. */
async function recommendedShardCount(config: GatewayConfig): Promise<number> {
  const rest = new REST(config.apiBase ? { api: config.apiBase } : {}).setToken(config.token);
  const { shards } = (await rest.get(Routes.gatewayBot())) as RESTGetAPIGatewayBotResult;
  return shards;
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
});
