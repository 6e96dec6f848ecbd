import { InputError } from '../errors.ts';
import { displayName } from '../images/errors.ts';

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
  const name = displayName(att.name);
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
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(o.timeoutMs ?? 20_000) });
  } catch {
    throw new InputError('download_failed', `${name} could not be downloaded from Discord; try again.`);
  }
  if (response.status >= 300 && response.status < 400) {
    throw new InputError('bad_host', `${name}: the link redirects away from Discord.`);
  }
  if (!response.ok || !response.body) {
    throw new InputError('download_failed', `${name} could not be downloaded (HTTP ${response.status}); send it again.`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > o.maxBytes) {
      throw new InputError('too_large', `${name} is larger than ${Math.round(o.maxBytes / 2 ** 20)} MiB.`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
