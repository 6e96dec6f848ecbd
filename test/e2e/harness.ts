import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Events, Routes } from 'discord.js';
import { commands } from '../../commands/index.ts';
import { createBot, type Bot } from '../../src/bot/bot.ts';
import { CommandRegistry } from '../../src/bot/command-registry.ts';
import type { BotConfig } from '../../src/bot/config.ts';
import { createLogger } from '../../src/bot/logger.ts';
import type { BotServices } from '../../src/bot/services.ts';
import { startServices } from '../../src/bot/start-services.ts';
import { startEmulator, type Emulator, type GuildSeed } from '../emulator/driver.ts';
import { tinyBundle } from '../helpers/tiny-bundle.ts';

export const TOKEN = 'emulated.bot-token.for-e2e';
export const APP_ID = '1100000000000000009';
export const GUILD_A = '1200000000000000011';
export const CHANNEL_A = '1200000000000000012';
export const GUILD_B = '1200000000000000021';
export const CHANNEL_B = '1200000000000000022';
export const ALICE = '1300000000000000011';
export const BOB = '1300000000000000012';
export const CAROL = '1300000000000000013';
/** Discord's Manage Server permission bit. */
export const MANAGE_GUILD = 1n << 5n;

export interface Harness {
  emu: Emulator;
  bot: Bot;
  services: BotServices & { close(): Promise<void> };
  config: BotConfig;
  /** Stops the bot (not the emulator or its data) and starts a fresh one on the same data. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  messageContent?: boolean;
  config?: Partial<BotConfig>;
  guilds?: GuildSeed[];
}

/**
 * The real bot (unchanged discord.js client, real store, real model on a tiny fixture bundle)
 * against the local Discord emulator, with its slash commands registered in both test guilds.
 */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const bundleDir = await tinyBundle(1);
  const dataDir = mkdtempSync(join(tmpdir(), 'xcot-e2e-'));
  const emu = await startEmulator({
    token: TOKEN,
    applicationId: APP_ID,
    heartbeatIntervalMs: 500,
    guilds: options.guilds ?? [
      { id: GUILD_A, name: 'Pets', channels: [{ id: CHANNEL_A, name: 'art' }], members: [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }, { id: CAROL, username: 'carol', permissions: MANAGE_GUILD }] },
      { id: GUILD_B, name: 'Other', channels: [{ id: CHANNEL_B, name: 'general' }], members: [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }] },
    ],
  });
  const config: BotConfig = {
    token: TOKEN,
    clientId: APP_ID,
    modelDir: bundleDir,
    dataDir,
    device: 'cpu',
    slots: 1,
    maxWaitingPerUser: 2,
    maxJobsPerGuild: 10,
    maxQueueLength: 20,
    maxSubjectPhotos: 4,
    maxPhotoBytes: 10 * 2 ** 20,
    logLevel: process.env.E2E_LOG ?? 'silent',
    messageContent: options.messageContent ?? true,
    ...options.config,
  };
  const logger = createLogger(config.logLevel);
  const cdnHost = new URL(emu.cdnBase).host;

  const connect = async () => {
    const services = await startServices(config, logger, { attachmentHosts: [cdnHost] });
    const bot = createBot(services, { rest: { api: emu.restBase } });
    const ready = once(bot.client, Events.ClientReady);
    await bot.client.login(TOKEN);
    await ready;
    return { services, bot };
  };
  let live = await connect();
  const body = new CommandRegistry(commands).toJSON();
  for (const guild of [GUILD_A, GUILD_B]) await live.bot.client.rest.put(Routes.applicationGuildCommands(APP_ID, guild), { body });

  const harness: Harness = {
    emu,
    config,
    get bot() {
      return live.bot;
    },
    get services() {
      return live.services;
    },
    async restart() {
      await live.bot.stop(0);
      await live.services.close();
      live = await connect();
    },
    async close() {
      await live.bot.stop(0).catch(() => {});
      await live.services.close().catch(() => {});
      await emu.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}
