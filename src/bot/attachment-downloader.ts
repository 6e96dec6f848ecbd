import { InputError } from '../errors.ts';
import { displayName } from '../images/errors.ts';
import { safeText } from '../util/safe-text.ts';

/** Discord's attachment CDN hosts: photos are fetched from these and nowhere else. */
export const DISCORD_CDN_HOSTS = ['cdn.discordapp.com', 'media.discordapp.net'];

export interface AttachmentRef {
  url: string;
  name: string;
  size: number;
}

export interface DownloadOptions {
  allowedHosts: readonly string[];
  maxBytes: number;
  timeoutMs?: number;
}

/**
 * Downloads an attachment at once (CDN links expire), only from an allowed host, never following a
 * redirect, and never reading more than maxBytes even if the server lies about the size.
 */
export async function downloadAttachment(att: AttachmentRef, o: DownloadOptions): Promise<Uint8Array> {
  // Shown in Discord: a file name like `**x**.png` must read literally.
  const name = safeText(displayName(att.name));
  let url: URL;
  try {
    url = new URL(att.url);
  } catch {
    throw new InputError('bad_url', `${name}: not a Discord attachment link.`);
  }
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
  if (!o.allowedHosts.includes(url.host) || (url.protocol !== 'https:' && !(local && url.protocol === 'http:'))) {
    throw new InputError('bad_host', `${name}: only files uploaded to Discord can be used.`);
  }
  if (att.size > o.maxBytes) throw new InputError('too_large', `${name} is larger than ${Math.round(o.maxBytes / 2 ** 20)} MiB.`);

  let response: Response;
  const signal = AbortSignal.timeout(o.timeoutMs ?? 20_000);
  try {
    response = await fetch(url, { redirect: 'manual', signal });
  } catch {
    if (signal.aborted) throw tookTooLong(name);
    throw new InputError('download_failed', `${name} could not be downloaded from Discord; try again.`);
  }
  if (response.status >= 300 && response.status < 400) {
    throw new InputError('bad_host', `${name}: the link redirects away from Discord.`);
  }
  if (!response.ok || !response.body) {
    throw new InputError('download_failed', `${name} could not be downloaded (HTTP ${response.status}); send it again.`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > o.maxBytes) {
        throw new InputError('too_large', `${name} is larger than ${Math.round(o.maxBytes / 2 ** 20)} MiB.`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    if (signal.aborted) throw tookTooLong(name);
    throw cutShort(name, total, declared);
  }
  if (Number.isFinite(declared) && total < declared) throw cutShort(name, total, declared);
  return Buffer.concat(chunks, total);
}

function tookTooLong(name: string): InputError {
  return new InputError('download_timeout', `${name} took too long to download from Discord; send it again.`);
}

function cutShort(name: string, got: number, declared: number): InputError {
  const of = Number.isFinite(declared) ? ` (${got} of ${declared} bytes)` : '';
  return new InputError('download_incomplete', `${name} arrived incomplete from Discord${of}; send it again.`);
}
