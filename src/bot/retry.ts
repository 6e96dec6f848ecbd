import { DiscordAPIError, HTTPError } from 'discord.js';

/**
 * Waits between our own attempts at a Discord request. discord.js already repeats a 5xx answer three
 * times at once (@discordjs/rest `retries: 3`, no pause), which does not outlast a failing proxy, so
 * these pauses are long.
 */
export const DISCORD_RETRY_DELAYS_MS: readonly number[] = [2_000, 10_000, 30_000];

/** A failure that may pass: a 5xx after discord.js' own retries, a dropped connection, a timeout. */
export function isTransient(err: unknown): boolean {
  if (err instanceof HTTPError) return err.status >= 500;
  if (err instanceof DiscordAPIError) return err.status >= 500 || err.status === 429;
  const e = err as { name?: string; code?: string } | null;
  return e?.name === 'AbortError' || e?.name === 'TimeoutError' || /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|UND_ERR_)/.test(e?.code ?? '');
}

/** Runs `fn`, again after each delay while it fails transiently; the last error is thrown. */
export async function retrying<T>(fn: () => Promise<T>, delaysMs: readonly number[], transient: (err: unknown) => boolean = isTransient): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= delaysMs.length || !transient(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, delaysMs[attempt]));
    }
  }
}
