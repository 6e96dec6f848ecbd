import type { ServerResponse } from 'node:http';

/**
 * A broken attachment download a test asks for: 'short' sends the headers (with the full
 * Content-Length) and half the bytes, then drops the connection; 'trickle' sends a few bytes at a time,
 * far too slowly to finish, until the client gives up.
 */
export interface DownloadFault {
  mode: 'short' | 'trickle';
  /** How many downloads (of any file) it breaks; default 1. */
  times?: number;
}

export class DownloadFaults {
  private readonly pending: { fault: DownloadFault; left: number }[] = [];

  add(fault: DownloadFault): void {
    this.pending.push({ fault, left: fault.times ?? 1 });
  }

  take(): DownloadFault | undefined {
    const entry = this.pending.find((p) => p.left > 0);
    if (!entry) return undefined;
    entry.left -= 1;
    return entry.fault;
  }
}

export function serveBroken(res: ServerResponse, fault: DownloadFault, bytes: Buffer, contentType: string): void {
  res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length });
  if (fault.mode === 'short') {
    res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
    return;
  }
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= bytes.length - 1) return;
    res.write(bytes.subarray(sent, sent + 8));
    sent += 8;
  }, 100);
  res.on('close', () => clearInterval(timer));
}
