import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DiscordHttpError, errors } from './errors.ts';
import { parseBody } from './multipart.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { RequestFaults } from './request-faults.ts';
import { bucketOf, matchRoute, routeKey, type Route, type RouteContext, type RouteResult } from './router.ts';
import { requestIssues, responseIssues } from './spec-check.ts';
import type { JsonObject } from './state.ts';
import type { Violation } from './violations.ts';

/** Discord rejects any request body over 25 MiB. */
export const MAX_REQUEST_BYTES = 25 * 1024 * 1024;
const USER_AGENT = /^DiscordBot \(\S+, \S+\)/;

/**
 * Discord's REST API, version 10, under `${base}/v10`. Every rejection is answered the way Discord
 * answers it and recorded as a violation; responses are checked against the spec's response schemas.
 */
export class RestServer {
  private server?: Server;
  /** What discord.js takes as `rest.api`. */
  base = '';

  constructor(
    private readonly routes: Route[],
    private readonly token: string,
    private readonly limiter: RateLimiter,
    private readonly report: (v: Violation) => void,
    private readonly faults?: RequestFaults,
  ) {}

  async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // A client that goes away mid-request (a bot process killed while uploading) gets nothing, and nothing happens.
    const raw = await readBody(req).catch(() => undefined);
    if (raw === undefined) return;
    const path = url.pathname.replace(/^\/api\/v10(?=\/)/, '');
    let label = `${method} ${url.pathname}`;
    let headers: Record<string, string> = {};
    const injected = this.faults?.take(method, path, /^multipart\//.test(req.headers['content-type'] ?? ''));
    // A failure the test asked for: not the bot's fault, so not a violation.
    if (injected) return send(res, injected.status, injected.body(), {});
    try {
      if (path === url.pathname) throw errors.notFound().withDetail('requests must go to /api/v10/...');
      const { match, methodMismatch } = matchRoute(this.routes, method, path);
      if (!match) throw methodMismatch ? errors.methodNotAllowed() : errors.notFound().withDetail('route not emulated or not a Discord route');
      label = routeKey(match.route);
      const verdict = this.limiter.check(bucketOf(match.route, match.params), method, path);
      headers = verdict.headers;
      if (verdict.limited) {
        if (!verdict.limited.isViolation) return send(res, 429, verdict.limited.error.body(), headers);
        throw verdict.limited.error;
      }
      this.checkHeaders(req, match.route, label);
      if (raw === 'too-large') throw errors.tooLarge().withDetail(`request body over ${MAX_REQUEST_BYTES} bytes`);
      const ctx = await this.context(req, url, path, match.params, raw);
      const issues = requestIssues(label, ctx.json);
      if (issues.length > 0) throw errors.invalidFormBody(issues, 'schema');
      const result = await match.route.handle(ctx);
      this.checkResponse(label, result);
      send(res, result.status, result.body, headers);
    } catch (error) {
      const failure = error instanceof DiscordHttpError ? error : this.internalError(error);
      this.report(toViolation(failure, label));
      send(res, failure.status, failure.body(), headers);
    }
  }

  private checkHeaders(req: IncomingMessage, route: Route, label: string): void {
    if (!USER_AGENT.test(req.headers['user-agent'] ?? '')) {
      const message = `User-Agent must look like "DiscordBot ($url, $version)", got ${JSON.stringify(req.headers['user-agent'])}`;
      this.report({ kind: 'auth', route: label, status: 0, code: 0, message, issues: [], at: Date.now() });
    }
    if (route.auth === 'bot' && req.headers.authorization !== `Bot ${this.token}`) {
      throw errors.unauthorized().withDetail(req.headers.authorization ? 'wrong token or missing "Bot " prefix' : 'no Authorization header');
    }
  }

  private async context(req: IncomingMessage, url: URL, path: string, params: Record<string, string>, raw: Buffer): Promise<RouteContext> {
    const parsed = await parseBody(req.headers['content-type'], raw);
    const body = typeof parsed.json === 'object' && parsed.json !== null && !Array.isArray(parsed.json) ? (parsed.json as JsonObject) : {};
    const { json, files } = parsed;
    return { method: req.method ?? 'GET', path, params, query: url.searchParams, headers: req.headers, json, body, files };
  }

  /** A response that does not match the spec's response schema is an emulator bug, reported as such. */
  private checkResponse(label: string, result: RouteResult): void {
    const issues = result.status < 300 ? responseIssues(label, result.body) : [];
    if (issues.length > 0) {
      const message = 'Emulator response does not match the Discord spec';
      this.report({ kind: 'emulator', route: label, status: result.status, code: 0, message, issues, at: Date.now() });
    }
  }

  private internalError(error: unknown): DiscordHttpError {
    const detail = error instanceof Error ? error.stack ?? error.message : String(error);
    return new DiscordHttpError(500, 0, '500: Internal Server Error', 'emulator').withDetail(detail);
  }
}

function toViolation(error: DiscordHttpError, route: string): Violation {
  const message = error.detail ? `${error.message} (${error.detail})` : error.message;
  return { kind: error.kind, route, status: error.status, code: error.code, message, issues: error.issues, at: Date.now() };
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_REQUEST_BYTES ? 'too-large' : Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  if (status === 204 || body === undefined) {
    res.writeHead(status === 200 ? 204 : status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
