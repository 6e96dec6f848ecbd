import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from './clock.ts';
import { DownloadFaults, serveBroken } from './download-faults.ts';
import type { FileRecord, EmulatorState } from './state.ts';
import type { Violation } from './violations.ts';

export const DEFAULT_URL_TTL_MS = 24 * 60 * 60 * 1000;

/** Signs attachment paths like Discord's CDN: ex (expiry) and is (issued) in hex seconds, hm an HMAC. */
export class UrlSigner {
  private readonly secret = randomBytes(32);

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  sign(base: string, path: string): string {
    const issued = Math.floor(this.clock.now() / 1000);
    const ex = (issued + Math.floor(this.ttlMs / 1000)).toString(16);
    const is = issued.toString(16);
    return `${base}${path}?ex=${ex}&is=${is}&hm=${this.mac(path, ex, is)}&`;
  }

  check(path: string, query: URLSearchParams): 'ok' | 'expired' | 'invalid' {
    const ex = query.get('ex');
    const is = query.get('is');
    const hm = query.get('hm');
    if (!ex || !is || !hm || hm !== this.mac(path, ex, is)) return 'invalid';
    return parseInt(ex, 16) * 1000 > this.clock.now() ? 'ok' : 'expired';
  }

  private mac(path: string, ex: string, is: string): string {
    return createHmac('sha256', this.secret).update(`${path}|${ex}|${is}`).digest('hex');
  }
}

export function attachmentPath(file: FileRecord): string {
  const folder = file.ephemeral ? 'ephemeral-attachments' : 'attachments';
  return `/${folder}/${file.channelId}/${file.id}/${encodeURIComponent(file.filename)}`;
}

/** Serves stored upload bytes at signed URLs on its own port (a separate host, like cdn.discordapp.com). */
export class CdnServer {
  private server?: Server;
  base = '';
  readonly faults = new DownloadFaults();

  constructor(
    private readonly state: EmulatorState,
    private readonly signer: UrlSigner,
    private readonly report: (v: Violation) => void,
  ) {}

  async listen(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  urlFor(file: FileRecord): string {
    return this.signer.sign(this.base, attachmentPath(file));
  }

  proxyUrlFor(file: FileRecord): string {
    return this.signer.sign(`${this.base}/proxy`, attachmentPath(file));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.base);
    const path = url.pathname.replace(/^\/proxy/, '');
    const file = this.findFile(path);
    const verdict = file ? this.signer.check(path, url.searchParams) : 'invalid';
    if (!file || verdict !== 'ok') {
      this.report({
        kind: 'cdn',
        route: `GET ${url.pathname}`,
        status: 404,
        code: 0,
        message: verdict === 'expired' ? 'Attachment URL expired (download attachments at once)' : 'Unknown or unsigned attachment URL',
        issues: [],
        at: Date.now(),
      });
      res.writeHead(404, { 'content-type': 'text/plain' }).end('This content is no longer available.');
      return;
    }
    const fault = req.method === 'HEAD' ? undefined : this.faults.take();
    if (fault) return serveBroken(res, fault, file.bytes, file.contentType);
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : file.bytes);
  }

  private findFile(path: string): FileRecord | undefined {
    const match = /^\/(?:ephemeral-)?attachments\/(\d+)\/(\d+)\/([^/]+)$/.exec(path);
    if (!match) return undefined;
    const file = this.state.files.get(match[2]);
    if (!file || file.channelId !== match[1] || attachmentPath(file) !== path) return undefined;
    return file;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
