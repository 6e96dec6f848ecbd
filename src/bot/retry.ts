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

/**
 * Runs `fn`, again after each delay while it fails transiently; the last error is thrown. When `signal`
 * aborts (the owner is being forgotten), a pause ends at once and the last error is thrown without
 * another attempt.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  delaysMs: readonly number[],
  { signal, transient = isTransient }: { signal?: AbortSignal; transient?: (err: unknown) => boolean } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= delaysMs.length || !transient(err) || signal?.aborted) throw err;
      await pause(delaysMs[attempt], signal);
      if (signal?.aborted) throw err;
    }
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
