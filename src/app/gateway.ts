import type { ClientOptions } from 'discord.js';
import type { Logger } from 'pino';
import { commands } from '../../commands/index.ts';
import { DISCORD_CDN_HOSTS } from '../bot/attachment-downloader.ts';
import { createBot, type Bot } from '../bot/bot.ts';
import type { BotDeps } from '../bot/bot-deps.ts';
import { quotaLimitsFor } from '../jobs/quota-limits.ts';
import { oncePerOutage } from '../util/outage-log.ts';
import { describeLoadedBundle } from '../pipeline/bundle-report/check-bundle.ts';
import { UserTextRules } from '../decoding/user-text.ts';
import type { ImageEngine } from '../jobs/image-engine.ts';
import type { WorkerEngine } from '../runtime/worker-engine.ts';
import { startModelEngine } from '../runtime/start-model-engine.ts';
import { JobQueue } from '../jobs/in-process/job-queue.ts';
import { Quota } from '../jobs/quota.ts';
import { GenerationService } from '../jobs/in-process/generation-service.ts';
import { openStores } from '../store/index.ts';
import { ClusterQueue } from '../jobs/cluster/cluster-queue.ts';
import { ClusterRunner } from '../jobs/cluster/cluster-runner.ts';
import { KEYS, redisConnection } from '../jobs/cluster/cluster-names.ts';
import { LocalDeliveryClaims, RedisDeliveryClaims } from '../jobs/delivery-claims.ts';
import { LocalForgetReach, RedisForgetReach } from '../jobs/forget-reach.ts';
import { readUpscalerFolder } from '../upscaling/upscaler-folder.ts';
import type { GatewayConfig } from './config.ts';

/** What a gateway is built with besides its configuration: tests and the sandbox point it at the local Discord. */
export interface GatewayExtras {
  /** Hosts attachments may be downloaded from (default: Discord's CDN). */
  attachmentHosts?: readonly string[];
  now?: () => number;
  retryDelaysMs?: readonly number[];
}

/** The gateway's dependencies as built here: the model engine is present when jobs run in this process. */
export type GatewayDeps = BotDeps & { engine?: ImageEngine; close(): Promise<void> };

/** The dependencies when jobs run in this process (JOB_QUEUE=local, the default). */
export type LocalGatewayDeps = GatewayDeps & { queue: JobQueue; engine: ImageEngine; runner: GenerationService };

/**
 * The gateway process (`npm start`, a shard, the sandbox): its dependencies and the Discord client with
 * the slash commands, not yet logged in; `close()` releases the dependencies (stop the bot first).
 */
export async function startGateway(config: GatewayConfig, logger: Logger, extra: GatewayExtras = {}): Promise<{ bot: Bot; deps: GatewayDeps }> {
  const deps = await startBotDeps(config, logger, extra);
  const clientOptions: Partial<ClientOptions> = config.apiBase ? { rest: { api: config.apiBase } } : {};
  return { bot: createBot(deps, commands, clientOptions), deps };
}

/**
 * Builds everything the bot needs except the Discord client: the store, quota, text rules, and the
 * queue with its runner (the engine in worker threads here, or model workers through Redis);
 * `close()` releases it all.
 */
export async function startBotDeps(config: GatewayConfig, logger: Logger, extra: GatewayExtras = {}): Promise<GatewayDeps> {
  // The model loads in worker threads; this thread only needs the bundle's reserved tokens, read once.
  const textRules = UserTextRules.fromBundle(config.modelDir);
  const stores = await openStores({
    dataDir: config.dataDir,
    redisUrl: config.redisUrl,
    maintenanceIntervalMs: 24 * 60 * 60 * 1000,
    onError: oncePerOutage((fields, msg) => logger.error(fields, msg), 'store'),
  });
  try {
    const cleaned = await stores.maintenance();
    // Jobs a dead process left unfinished are resumed or failed once the client is ready (restart-recovery.ts).
    logger.info(cleaned, 'store maintenance');
    const quota = new Quota({
      limitsFor: quotaLimitsFor(stores, config.quota),
      redisUrl: config.redisUrl,
      onError: oncePerOutage((fields, msg) => logger.error(fields, msg), 'quota counters'),
    });
    const common = {
      config,
      logger,
      stores,
      quota,
      textRules,
      attachmentHosts: extra.attachmentHosts ?? DISCORD_CDN_HOSTS,
      messageContent: config.messageContent,
      now: extra.now ?? Date.now,
      retryDelaysMs: extra.retryDelaysMs,
    };
    if (config.jobQueue === 'redis' && config.redisUrl) {
      // Jobs run on model workers (npm run worker); this process only talks to Discord.
      const queue = await ClusterQueue.start({
        redisUrl: config.redisUrl,
        maxWaitingPerUser: config.maxWaitingPerUser,
        maxPerGuild: config.maxJobsPerGuild,
        maxQueueLength: config.maxQueueLength,
        onError: oncePerOutage((fields, msg) => logger.error(fields, msg), 'queue (Redis)'),
      });
      const claimsRedis = redisConnection(config.redisUrl);
      const claims = new RedisDeliveryClaims(claimsRedis, KEYS.postedPrefix);
      const forgetListener = redisConnection(config.redisUrl);
      const forgetReach = await RedisForgetReach.start(claimsRedis, forgetListener, KEYS.forgetChannel);
      logger.info({ workers: queue.concurrency }, 'jobs go to model workers through Redis');
      return {
        ...common,
        ...gatewayUpscale(config, logger),
        queue,
        runner: new ClusterRunner(queue, stores),
        claims,
        forgetReach,
        close: async () => {
          await forgetReach.close();
          forgetListener.disconnect();
          await queue.close();
          await claims.close();
          claimsRedis.disconnect();
          await quota.close();
          await stores.close();
        },
      };
    }
    const engine = await startModelEngine(config, logger).catch(async (err: unknown) => {
      await quota.close();
      throw err;
    });
    logBundleReport(config, engine, logger);
    const queue = new JobQueue({
      // Each worker draws up to batchJobs jobs at once (continuous batching), so that many run per worker.
      concurrency: config.modelSlots * config.batchJobs,
      maxWaitingPerUser: config.maxWaitingPerUser,
      maxPerGuild: config.maxJobsPerGuild,
      maxQueueLength: config.maxQueueLength,
      maxRunMs: config.maxRunMs,
    });
    if (config.scorer === 'none') logger.info('no scorer configured (SCORER, SCORER_DIR): groups of candidates are shown unranked');
    const runner = new GenerationService(engine, stores, queue, { scorer: config.scorer });
    return {
      ...common,
      ...(engine.upscaleScale ? { upscale: { scale: engine.upscaleScale } } : {}),
      queue,
      engine,
      runner,
      claims: new LocalDeliveryClaims(),
      forgetReach: new LocalForgetReach(),
      close: async () => {
        await engine.close();
        await quota.close();
        await stores.close();
      },
    };
  } catch (err) {
    await stores.close();
    throw err;
  }
}

/**
 * A gateway whose jobs run on model workers (JOB_QUEUE=redis) offers the Upscale button when UPSCALER_DIR
 * names a readable Swin2SR folder here too (the workers load the model; each says in its log whether it did).
 */
function gatewayUpscale(config: GatewayConfig, logger: Logger): { upscale?: { scale: number } } {
  if (!config.upscalerDir) {
    logger.info({}, 'no UPSCALER_DIR: the Upscale button is off');
    return {};
  }
  try {
    const spec = readUpscalerFolder(config.upscalerDir);
    logger.info({ upscaler: config.upscalerDir, scale: spec.scale }, 'upscaler folder found; model workers run it');
    return { upscale: { scale: spec.scale } };
  } catch (err) {
    logger.warn({ problem: (err as Error).message }, `upscaler off, the Upscale button too: ${(err as Error).message}`);
    return {};
  }
}

/** The bundle summary `npm run check-bundle` prints, as one structured log line, with the workers' own facts. */
function logBundleReport(config: GatewayConfig, engine: WorkerEngine, logger: Logger): void {
  try {
    const report = describeLoadedBundle(config.modelDir, { device: config.device, graphCacheDir: config.graphCacheDir, matMulAccuracy: config.matMulAccuracy }, engine.facts);
    logger.info({ bundle: report }, report.usable ? 'model bundle' : 'model bundle has problems (see bundle.issues)');
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message } }, 'could not summarize the model bundle');
  }
}
