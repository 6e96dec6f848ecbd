import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIAttachment } from 'discord.js';
import type { Logger } from 'pino';
import type { Emulator } from '../local-discord/driver.ts';
import type { InteractionHandle } from '../local-discord/interaction-handle.ts';
import type { OptionValue } from '../local-discord/interaction-payloads.ts';
import type { ModalValue } from '../local-discord/modal-submit.ts';
import { describeViolation } from '../local-discord/violations.ts';
import { startLiveUpdates } from './live-updates.ts';
import { ReactionBoard } from './reactions.ts';
import { visibleTo } from './visibility.ts';
import { SANDBOX_CHANNELS, SANDBOX_GUILD, SANDBOX_MEMBERS } from './world.ts';

const WEB_DIR = join(fileURLToPath(new URL('.', import.meta.url)), 'web');
/** The page's files: index.html and the plain ES modules and stylesheet beside it (no build step). */
const staticFile = (path: string): string | undefined => (path === '/' ? 'index.html' : /^\/[a-z-]+\.(js|css)$/.exec(path)?.[0].slice(1));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const MAX_UPLOAD_BYTES = 25 * 2 ** 20;
/** Discord shows "This interaction failed" when the bot has not answered within 3 s. */
const ACK_WAIT_MS = 3_500;
/** An upload no command or message took within this long is freed (Discord's client uploads expire too). */
const UPLOAD_TTL_MS = 15 * 60_000;
/** Unused uploads held at once; past it the oldest is freed first. */
const MAX_HELD_UPLOAD_BYTES = 200 * 2 ** 20;

export interface WebServerOptions {
  emulator: Emulator;
  logger: Logger;
  port: number;
  fixtureModel: boolean;
  modelDir: string;
  /** How long an unused upload is kept (default 15 minutes). */
  uploadTtlMs?: number;
  /** Unused uploads held at once, in bytes (default 200 MiB). */
  maxHeldUploadBytes?: number;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * The web client's side of the sandbox: static page, a JSON API that acts as a member through the
 * emulator's driver (the same INTERACTION_CREATE and message events Discord's own client causes),
 * and the live updates (live-updates.ts).
 */
export async function startWebServer(o: WebServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const emu = o.emulator;
  const uploads = new Map<string, APIAttachment>();
  const uploadTimers = new Map<string, NodeJS.Timeout>();
  const freeUpload = (id: string) => {
    clearTimeout(uploadTimers.get(id));
    uploadTimers.delete(id);
    uploads.delete(id);
    emu.discardUpload(id);
  };
  const keepUpload = (attachment: APIAttachment) => {
    let held = [...uploads.values()].reduce((sum, a) => sum + a.size, 0) + attachment.size;
    for (const old of [...uploads.values()]) {
      if (held <= (o.maxHeldUploadBytes ?? MAX_HELD_UPLOAD_BYTES)) break;
      held -= old.size;
      freeUpload(old.id);
    }
    uploads.set(attachment.id, attachment);
    const timer = setTimeout(() => freeUpload(attachment.id), o.uploadTtlMs ?? UPLOAD_TTL_MS);
    timer.unref();
    uploadTimers.set(attachment.id, timer);
  };
  const openModals = new Map<string, InteractionHandle>();
  const reactions = new ReactionBoard();
  const cdnOrigin = new URL(emu.cdnBase).origin;

  const channelView = (channelId: string, viewer: string) => ({
    messages: emu.messages(channelId).filter((m) => visibleTo(m, viewer)).map((m) => reactions.decorate(m, viewer)),
    threads: emu.threads(channelId),
  });

  /** The member's view of an interaction's first answer: a modal to fill, a failure, or fine (the rest comes by WebSocket). */
  const answer = async (handle: InteractionHandle) => {
    try {
      await handle.waitForAck(ACK_WAIT_MS);
    } catch {
      return { failed: 'This interaction failed (the bot did not answer within 3 s).' };
    }
    if (handle.callbackType !== 9) return { ok: true };
    const modal = await handle.waitForModal();
    openModals.set(handle.id, handle);
    return { modal, modalId: handle.id };
  };

  const optionValues = (raw: Record<string, unknown> = {}): Record<string, OptionValue> =>
    Object.fromEntries(Object.entries(raw).map(([name, value]) => {
      if (value && typeof value === 'object' && 'attachment' in value) return [name, upload(String((value as { attachment: unknown }).attachment))];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return [name, value];
      throw new HttpError(400, `option ${name} has an unusable value`);
    }));

  const upload = (id: string): APIAttachment => {
    const found = uploads.get(id);
    if (!found) throw new HttpError(400, `no uploaded file ${id}`);
    return found;
  };

  const member = (id: unknown): string => {
    if (!SANDBOX_MEMBERS.some((m) => m.id === id)) throw new HttpError(400, 'unknown member');
    return String(id);
  };

  const routes: Record<string, (body: Record<string, unknown>, url: URL, req: IncomingMessage) => Promise<unknown>> = {
    'GET /api/world': async () => ({
      guild: SANDBOX_GUILD,
      channels: SANDBOX_CHANNELS,
      // Every thread of every channel, so the sidebar lists them all after a reload.
      threads: SANDBOX_CHANNELS.flatMap((c) => emu.threads(c.id)),
      roles: emu.roles(SANDBOX_GUILD.id).map(({ id, name }) => ({ id, name })),
      members: SANDBOX_MEMBERS.map(({ id, username }) => ({ id, username })),
      botUserId: emu.botUserId,
      fixtureModel: o.fixtureModel,
      modelDir: o.modelDir,
      violations: emu.violations().map(describeViolation),
    }),
    // Each member's command picker lists what Discord's would list for them.
    'GET /api/commands': async (_, url) => emu.commandsFor(SANDBOX_GUILD.id, member(url.searchParams.get('viewer'))),
    'GET /api/channel': async (_, url) => channelView(String(url.searchParams.get('id')), member(url.searchParams.get('viewer'))),
    'POST /api/upload': async (_, url, req) => {
      const bytes = await readBody(req, MAX_UPLOAD_BYTES);
      const filename = url.searchParams.get('filename') || 'upload.bin';
      const attachment = emu.uploadAttachment(bytes, filename, req.headers['content-type'] || undefined);
      keepUpload(attachment);
      return { id: attachment.id, filename: attachment.filename, size: attachment.size };
    },
    'POST /api/command': async (b) =>
      answer(emu.runSlashCommand({
        guildId: SANDBOX_GUILD.id, channelId: String(b.channelId), userId: member(b.userId), name: String(b.name),
        ...(b.subcommand ? { subcommand: String(b.subcommand) } : {}),
        options: optionValues(b.options as Record<string, unknown>),
      })),
    'POST /api/autocomplete': async (b) => ({
      choices: await emu.autocomplete({
        guildId: SANDBOX_GUILD.id, channelId: String(b.channelId), userId: member(b.userId), name: String(b.name),
        ...(b.subcommand ? { subcommand: String(b.subcommand) } : {}),
        options: optionValues(b.options as Record<string, unknown>), focused: String(b.focused),
      }),
    }),
    'POST /api/button': async (b) => answer(emu.clickButton(String(b.messageId), String(b.customId), member(b.userId))),
    'POST /api/select': async (b) => answer(emu.selectMenu(String(b.messageId), String(b.customId), member(b.userId), (b.values as unknown[]).map(String))),
    'POST /api/modal': async (b) => {
      const opened = openModals.get(String(b.modalId));
      if (!opened) throw new HttpError(400, 'that modal is no longer open');
      // Discord shows a modal only to the member who opened it; nobody else can send it.
      if (member(b.userId) !== opened.record.userId) throw new HttpError(403, 'that modal was opened by another member');
      const handle = await emu.submitModal(opened, b.values as Record<string, ModalValue>, opened.record.userId);
      openModals.delete(opened.id);
      return answer(handle);
    },
    'POST /api/react': async (b) => {
      const messageId = String(b.messageId);
      const userId = member(b.userId);
      const emoji = String(b.emoji);
      const added = reactions.toggle(messageId, userId, emoji);
      if (added) emu.react(messageId, userId, emoji);
      else emu.unreact(messageId, userId, emoji);
      const message = emu.message(messageId);
      if (message) live.showMessage(message.channel_id, message);
      return { added };
    },
    'POST /api/message': async (b) => {
      const attachments = ((b.attachmentIds as unknown[]) ?? []).map((id) => upload(String(id)));
      emu.postMessage(String(b.channelId), member(b.userId), String(b.content ?? ''), attachments);
      return { ok: true };
    },
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Only reached when the answer itself failed (the client went away mid-answer): end the socket.
      o.logger.warn({ err: (err as Error).message, path: new URL(req.url ?? '/', 'http://sandbox').pathname }, 'sandbox request could not be answered');
      res.destroy();
    });
  });
  // Only names of this machine: a DNS-rebinding page under another name cannot reach the API.
  const localHost = (host: string | undefined) => {
    const { port } = server.address() as AddressInfo;
    return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  };
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    try {
      if (!localHost(req.headers.host)) throw new HttpError(403, 'open the sandbox at 127.0.0.1 or localhost');
      const file = req.method === 'GET' ? staticFile(url.pathname) : undefined;
      if (file) {
        // Read before answering, so a missing file is a 404 and not a second answer after a 200.
        const bytes = await readFile(join(WEB_DIR, file));
        res.writeHead(200, {
          'content-type': TYPES[extname(file)],
          'cache-control': 'no-store',
          // Bot and member text is only ever set as text, but nothing inline may run even if it were not.
          'content-security-policy': `default-src 'self'; img-src 'self' blob: ${cdnOrigin}; connect-src 'self'; style-src 'self'`,
        });
        res.end(bytes);
        return;
      }
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const route = routes[`${req.method} ${url.pathname}`];
      if (!route) throw new HttpError(404, 'not found');
      // A custom header cannot be sent cross-site without a CORS preflight (which this server never
      // grants), so other web pages cannot act as a member.
      if (req.method === 'POST' && req.headers['x-sandbox'] !== '1') throw new HttpError(403, 'requests must come from the sandbox page');
      const body = req.method === 'POST' && url.pathname !== '/api/upload' ? JSON.parse((await readBody(req, 2 ** 20)).toString('utf8') || '{}') : {};
      const result = await route(body, url, req);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    } catch (err) {
      const status = err instanceof HttpError ? err.status : (err as NodeJS.ErrnoException).code === 'ENOENT' ? 404 : 400;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Emulator refusals (a disabled button, a modal field too long) are what Discord's client would stop.
      // A request body that did not parse or a file that is not there gets its message, never a stack.
      const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: message }));
    }
  }

  const live = startLiveUpdates({ server, emulator: emu, logger: o.logger, decorate: (m, viewer) => reactions.decorate(m, viewer), accept: (req) => localHost(req.headers.host) && req.headers.origin === `http://${req.headers.host}` });

  server.listen(o.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    async close() {
      for (const timer of uploadTimers.values()) clearTimeout(timer);
      live.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `upload over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
