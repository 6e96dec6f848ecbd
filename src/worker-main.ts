import { oncePerOutage } from './util/outage-log.ts';
import 'dotenv/config';
import { createServer } from 'node:http';
import { basename } from 'node:path';
import { createLogger } from './util/logger.ts';
import { ModelWorker } from './jobs/cluster/model-worker.ts';
import { loadWorkerConfig, WorkerConfigError } from './jobs/cluster/worker-config.ts';
import { runStoredJob } from './jobs/stored-job-run.ts';
import { startModelEngine } from './runtime/start-model-engine.ts';
import { openStores } from './store/index.ts';

/** `npm run worker`: a model worker. Loads the bundle, then takes jobs from the Redis queue the gateways fill. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig();
  } catch (err) {
    if (err instanceof WorkerConfigError) {
      process.stderr.write(`${err.message}\nSee .env.example.\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const stores = await openStores({ dataDir: config.dataDir, redisUrl: config.redisUrl, onError: oncePerOutage((fields, msg) => logger.error(fields, msg), 'store') });
  const engine = await startModelEngine(config, logger);
  const context = { engine, stores, modelId: basename(config.modelDir), scorer: config.scorer };
  const worker = await ModelWorker.start({
    redisUrl: config.redisUrl,
    stores,
    run: (job, signal, hooks) => runStoredJob(context, job, signal, hooks),
    concurrency: config.modelSlots * config.batchJobs,
    maxRunMs: config.maxRunMs,
    lockMs: config.lockMs,
    logger,
  });

  const health = config.healthPort
    ? createServer((req, res) => {
        const ok = req.url === '/health' && worker.healthy;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok, busy: worker.busy }));
      }).listen(config.healthPort)
    : undefined;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Running jobs finish first; BullMQ gives a job back to the queue if the process is killed meanwhile.
    logger.info({ signal, busy: worker.busy }, 'model worker stopping');
    health?.close();
    await worker.close();
    await engine.close();
    await stores.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
});
