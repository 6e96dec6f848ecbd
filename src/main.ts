import 'dotenv/config';
import { commands } from '../commands/index.ts';
import { createBot } from './bot/bot.ts';
import { loadConfig, ConfigError } from './bot/config.ts';
import { createLogger } from './bot/logger.ts';
import { startBotDeps } from './bot/start-bot-deps.ts';

/** `npm start`: configuration, store, model, queue, then the Discord connection. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const deps = await startBotDeps(config, logger);
  const bot = createBot(deps, commands, config.apiBase ? { rest: { api: config.apiBase } } : {});

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
  try {
    await bot.client.login(config.token);
  } catch (err) {
    logger.fatal({ err: { message: (err as Error).message } }, 'could not log in to Discord (check DISCORD_TOKEN, and enable the Message Content intent in the Developer Portal or set MESSAGE_CONTENT=false)');
    await deps.close();
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
});
