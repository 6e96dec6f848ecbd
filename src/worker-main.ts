import 'dotenv/config';
import { ConfigError, loadWorkerConfig } from './app/config.ts';
import { startModelWorker } from './app/model-worker.ts';
import { createLogger } from './util/logger.ts';

/** `npm run worker`: a model worker. Loads the bundle, then takes jobs from the Redis queue the gateways fill. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const running = await startModelWorker(config, logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, busy: running.worker.busy }, 'model worker stopping');
    await running.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
});
