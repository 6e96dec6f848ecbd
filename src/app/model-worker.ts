import { createServer, type Server } from 'node:http';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { ModelWorker } from '../jobs/cluster/model-worker.ts';
import { runStoredJob } from '../jobs/stored-job-run.ts';
import { startModelEngine } from '../runtime/start-model-engine.ts';
import { openStores } from '../store/index.ts';
import { oncePerOutage } from '../util/outage-log.ts';
import type { WorkerConfig } from './config.ts';

export interface ModelWorkerProcess {
  worker: ModelWorker;
  /** Lets running jobs finish, then releases the queue, the engine and the store. */
  close(): Promise<void>;
}

/**
 * A model worker process (`npm run worker`): the store, the model in worker threads, the BullMQ worker
 * that takes jobs from the queue the gateways fill, and GET /health when HEALTH_PORT is set.
 */
export async function startModelWorker(config: WorkerConfig, logger: Logger): Promise<ModelWorkerProcess> {
  const stores = await openStores({ dataDir: config.dataDir, redisUrl: config.redisUrl, onError: oncePerOutage((fields, msg) => logger.error(fields, msg), 'store') });
  const engine = await startModelEngine(config, logger);
  const context = { engine, stores, modelId: basename(config.modelDir), scorer: config.scorer, drawnWaitsForStore: true };
  const worker = await ModelWorker.start({
    redisUrl: config.redisUrl,
    stores,
    run: (job, signal, hooks) => runStoredJob(context, job, signal, hooks),
    concurrency: config.modelSlots * config.batchJobs,
    maxRunMs: config.maxRunMs,
    lockMs: config.lockMs,
    logger,
  });
  const health = config.healthPort ? healthServer(worker, config.healthPort) : undefined;
  return {
    worker,
    async close() {
      // Running jobs finish first; BullMQ gives a job back to the queue if the process is killed meanwhile.
      health?.close();
      await worker.close();
      await engine.close();
      await stores.close();
    },
  };
}

/** GET /health: 200 while the worker takes jobs, else 503, with how many it runs. */
function healthServer(worker: ModelWorker, port: number): Server {
  return createServer((req, res) => {
    const ok = req.url === '/health' && worker.healthy;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok, busy: worker.busy }));
  }).listen(port);
}
