import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Events, Routes } from 'discord.js';
import { commands } from '../../commands/index.ts';
import { CommandRegistry } from '../bot/command-registry.ts';
import { createLogger } from '../util/logger.ts';
import { startEmulator, type Emulator } from '../local-discord/driver.ts';
import { ensureFixtureBundle, ensureFixtureUpscaler, isFixtureBundle } from '../sandbox/fixture-model.ts';
import { startWebServer } from '../sandbox/web-server.ts';
import { SANDBOX_APP_ID, SANDBOX_CHANNELS, SANDBOX_GUILD, SANDBOX_MEMBERS, SANDBOX_TOKEN } from '../sandbox/world.ts';
import { loadGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

export interface SandboxOptions {
  /** Web client port (0: any free one). */
  port?: number;
  /** A model bundle; without one the random-weight fixture is generated under dataDir. */
  modelDir?: string;
  /** Where the bot's store and the fixture bundle live (default data/sandbox). */
  dataDir?: string;
  /** pino level for the bot and the sandbox's own log lines (default warn). */
  logLevel?: string;
  /** Bot settings as environment variables (e.g. CONSENT_REQUIRED), as `npm start` reads them. */
  env?: NodeJS.ProcessEnv;
}

export interface Sandbox {
  url: string;
  emulator: Emulator;
  /** The model is a random-weight fixture (generated here, or passed with --model): the page says its output is noise. */
  fixtureModel: boolean;
  close(): Promise<void>;
}

/**
 * The local Discord, the unchanged bot (configuration, dependencies and client built exactly as
 * `npm start` builds them) and the web client that acts as the server's members.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const dataDir = resolve(options.dataDir ?? 'data/sandbox');
  mkdirSync(dataDir, { recursive: true });
  const fixture = options.modelDir ? undefined : ensureFixtureBundle(dataDir);
  const modelDir = options.modelDir ? resolve(options.modelDir) : fixture!.dir;
  const fixtureModel = isFixtureBundle(modelDir);

  const emulator = await startEmulator({
    token: SANDBOX_TOKEN,
    applicationId: SANDBOX_APP_ID,
    botUsername: 'xcot-bot',
    guilds: [{ ...SANDBOX_GUILD, channels: SANDBOX_CHANNELS, members: SANDBOX_MEMBERS }],
  });
  const logLevel = options.logLevel ?? options.env?.LOG_LEVEL ?? 'warn';
  const config = loadGatewayConfig({
    // The consent question is a per-server choice; a sandbox starts with it off so the first try is one command.
    CONSENT_REQUIRED: 'false',
    ...options.env,
    // A random-weight upscaler unless one is given, so the Upscale button can be tried.
    UPSCALER_DIR: options.env?.UPSCALER_DIR || ensureFixtureUpscaler(dataDir),
    DISCORD_TOKEN: SANDBOX_TOKEN,
    DISCORD_CLIENT_ID: SANDBOX_APP_ID,
    GUILD_ID: SANDBOX_GUILD.id,
    MODEL_DIR: modelDir,
    DATA_DIR: join(dataDir, 'bot'),
    DISCORD_API_BASE: emulator.restBase,
    REDIS_URL: '',
    LOG_LEVEL: logLevel,
  });
  const logger = createLogger(config.logLevel);
  let gateway;
  try {
    // Attachments come from the local CDN instead of Discord's.
    gateway = await startGateway(config, logger, { attachmentHosts: [new URL(emulator.cdnBase).host] });
  } catch (err) {
    await emulator.close();
    throw err;
  }
  const { bot, deps } = gateway;
  const ready = once(bot.client, Events.ClientReady);
  await bot.client.login(config.token);
  await ready;
  // What `npm run deploy-commands` does against Discord.
  await bot.client.rest.put(Routes.applicationGuildCommands(SANDBOX_APP_ID, SANDBOX_GUILD.id), { body: new CommandRegistry(commands).toJSON() });

  const web = await startWebServer({ emulator, logger, port: options.port ?? 0, fixtureModel, modelDir });
  return {
    url: web.url,
    emulator,
    fixtureModel,
    async close() {
      await web.close();
      await bot.stop(5_000).catch(() => {});
      await deps.close().catch(() => {});
      await emulator.close();
    },
  };
}
