import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Events, Routes, type APIMessage } from 'discord.js';
import sharp from 'sharp';
import { commands } from '../../commands/index.ts';
import { createBot, type Bot } from '../../src/bot/bot.ts';
import { CommandRegistry } from '../../src/bot/command-registry.ts';
import type { GatewayConfig } from '../../src/app/config.ts';
import { createLogger } from '../../src/util/logger.ts';
import { startBotDeps, type LocalGatewayDeps } from '../../src/app/gateway.ts';
import { startEmulator, type Emulator } from '../../src/local-discord/driver.ts';
import type { GuildSeed } from '../../src/local-discord/emulator-options.ts';
import type { SlashCommandInput } from '../../src/local-discord/user-actions.ts';
import type { EmulatorEvent } from '../../src/local-discord/events.ts';
import type { InteractionHandle } from '../../src/local-discord/interaction-handle.ts';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
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
  deps: LocalGatewayDeps;
  config: GatewayConfig;
  /** Stops the bot (not the emulator or its data) and starts a fresh one on the same data. */
  restart(): Promise<void>;
  /**
   * Like kill -9, then a fresh bot on the same data: nothing of the old one reaches Discord or the
   * store any more (no notices, no record updates), so its jobs stay in the store as they were.
   */
  crash(): Promise<void>;
  /**
   * Makes every generation wait (after its grounding, before drawing) until release(), so a test can
   * keep the model's slot busy while it queues, cancels or moves the clock. Cancelling still works.
   */
  holdGenerations(): GenerationHold;
  close(): Promise<void>;
}

export interface HarnessOptions {
  messageContent?: boolean;
  config?: Partial<GatewayConfig>;
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
  const config: GatewayConfig = {
    token: TOKEN,
    clientId: APP_ID,
    modelDir: bundleDir,
    dataDir,
    device: 'cpu',
    modelSlots: 1,
    // One job at a time keeps the queue tests' positions meaningful; batching has its own tests.
    batchJobs: 1,
    prefixCacheMb: 64,
    visionCacheMb: 16,
    maxWaitingPerUser: 2,
    maxJobsPerGuild: 10,
    maxQueueLength: 20,
    maxRunMs: 600_000,
    engineStallMs: 120_000,
    maxSubjectPhotos: 4,
    maxPhotoBytes: 10 * 2 ** 20,
    logLevel: process.env.E2E_LOG ?? 'silent',
    messageContent: options.messageContent ?? true,
    // The consent question has its own tests (test/faults/consent.test.ts); elsewhere it is off unless a server turns it on.
    consentRequired: false,
    scorer: 'none',
    ...options.config,
  };
  const logger = createLogger(config.logLevel);
  const cdnHost = new URL(emu.cdnBase).host;

  const connect = async () => {
    // The bot tells time by the emulator's clock, so advanceTime() ages interaction tokens for both.
    // Short pauses between our own retries of failed Discord requests keep the fault tests quick.
    // The harness runs jobs in its own process (JOB_QUEUE local).
    const deps = (await startBotDeps(config, logger, { attachmentHosts: [cdnHost], now: () => emu.clock.now(), retryDelaysMs: [20, 50] })) as LocalGatewayDeps;
    const bot = createBot(deps, commands, { rest: { api: emu.restBase } });
    const ready = once(bot.client, Events.ClientReady);
    await bot.client.login(TOKEN);
    await ready;
    return { deps, bot };
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
    get deps() {
      return live.deps;
    },
    async restart() {
      await live.bot.stop(0);
      await live.deps.close();
      live = await connect();
    },
    async crash() {
      const dead = live;
      (dead.bot.client.rest.options as { makeRequest: unknown }).makeRequest = () => Promise.reject(new Error('process killed'));
      await dead.deps.stores.close();
      await dead.bot.client.destroy();
      // Its jobs' timers go with it; with the store closed and requests failing nothing they do is seen.
      await dead.deps.queue.drain({ waitMs: 0, message: 'killed' });
      await dead.deps.close().catch(() => {});
      live = await connect();
    },
    holdGenerations() {
      return holdGenerations(live.deps);
    },
    async close() {
      await live.bot.stop(0).catch(() => {});
      await live.deps.close().catch(() => {});
      await emu.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

export interface GenerationHold {
  /** Resolves once `n` generations are waiting at the hold. */
  reached(n?: number): Promise<void>;
  release(): void;
}

function holdGenerations(deps: LocalGatewayDeps): GenerationHold {
  const engine = deps.engine;
  const draw = engine.generate;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let waiting = 0;
  const arrivals = new EventTarget();
  engine.generate = async function held(this: typeof engine, request) {
    waiting++;
    arrivals.dispatchEvent(new Event('arrive'));
    const aborted = new Promise<never>((_, reject) => {
      const signal = request.signal;
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    await Promise.race([released, aborted]);
    return draw.call(this, request);
  };
  return {
    reached: (n = 1) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (waiting < n) return;
          arrivals.removeEventListener('arrive', check);
          resolve();
        };
        arrivals.addEventListener('arrive', check);
        check();
      }),
    release() {
      engine.generate = draw;
      release();
    },
  };
}

// ---- helpers for e2e tests ------------------------------------------------------------------------

/** A small photo-like image (a gradient with a block, so grounding sees something). */
export async function photo(color: string, format: 'png' | 'jpeg' = 'png', size = { width: 160, height: 120 }): Promise<Buffer> {
  const img = sharp({ create: { ...size, channels: 3, background: color } }).composite([
    { input: { create: { width: Math.floor(size.width / 3), height: Math.floor(size.height / 3), channels: 3, background: '#ffffff' } }, left: 10, top: 10 },
  ]);
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
}

/** Every custom_id on a message's components. */
export function customIds(message: { components?: unknown[] }): string[] {
  const out: string[] = [];
  const visit = (c: unknown): void => {
    if (!c || typeof c !== 'object') return;
    const o = c as { custom_id?: string; components?: unknown[] };
    if (o.custom_id) out.push(o.custom_id);
    o.components?.forEach(visit);
  };
  message.components?.forEach(visit);
  return out;
}

/** The custom_id on `message` for `action` (e.g. "regen"); fails the test when there is none. */
export function buttonId(message: { components?: unknown[] }, action: string): string {
  const id = customIds(message).find((c) => c.startsWith(`xcot:${action}:`));
  if (!id) throw new Error(`no ${action} button on message: ${customIds(message).join(', ')}`);
  return id;
}

export interface Started {
  run: InteractionHandle;
  /** The interaction's reply, once it shows the queue status (with its Cancel button). */
  status: APIMessage;
  jobId: string;
}

/** Runs /personalize and waits until its status shows (the job is queued or running). */
export async function personalize(
  h: Harness,
  input: Partial<Omit<SlashCommandInput, 'options'>> & { options: Record<string, OptionValue> },
): Promise<Started> {
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', ...input });
  const status = await run.waitForReply(30_000);
  const cancel = customIds(status).find((c) => c.startsWith('xcot:cancel:'));
  if (!cancel) throw new Error(`no Cancel button on the status: ${status.content}`);
  return { run, status, jobId: cancel.split(':')[2] };
}

/** Waits for a thread the bot starts (after `since`) and the first message in it with images. */
export async function waitForThreadResult(h: Harness, since: number, timeoutMs = 60_000): Promise<{ threadId: string; result: APIMessage }> {
  const event = await h.emu.waitFor(
    (e): e is Extract<EmulatorEvent, { kind: 'thread_create' }> => e.kind === 'thread_create',
    timeoutMs,
    since,
  );
  const threadId = String(event.thread.id);
  const result = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, timeoutMs, since);
  return { threadId, result };
}

/** Waits until message `id` is created or edited (after `since`) so that it matches `test`. */
export async function waitForMessageState(
  h: Harness,
  id: string,
  test: (m: APIMessage) => boolean,
  timeoutMs = 30_000,
  since = 0,
): Promise<APIMessage> {
  const event = await h.emu.waitFor(
    (e) => (e.kind === 'message_update' || e.kind === 'message_create') && e.message.id === id && test(e.message as unknown as APIMessage),
    timeoutMs,
    since,
  );
  return (event as Extract<EmulatorEvent, { kind: 'message_update' }>).message as unknown as APIMessage;
}
