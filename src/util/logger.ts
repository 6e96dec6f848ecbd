import pino, { type Logger } from 'pino';

/**
 * Structured logs; anything that looks like a secret is replaced before it is written, and errors
 * are logged without what users sent or received: discord.js' DiscordAPIError carries the request
 * body (prompts, image bytes) and a webhook URL holding the 15-minute interaction token.
 */
export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['token', '*.token', 'config.token', 'headers.authorization', '*.headers.authorization', 'DISCORD_TOKEN'],
        censor: '[redacted]',
      },
      serializers: { err: serializeError, error: serializeError },
    },
    destination,
  );
}

/** Longest message or stack kept from an error. */
const MAX_TEXT = 2000;

/**
 * An error as a small record: its class, message, code, HTTP status and method, and the request
 * path with tokens removed; never its request body, response body or other fields.
 */
export function serializeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) {
    // Already cut down to its message and code (oncePerOutage's one line).
    const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
    if (typeof message === 'string') return { message: scrub(message).slice(0, MAX_TEXT), ...(typeof code === 'string' ? { code } : {}) };
    return { message: scrub(String(err)).slice(0, MAX_TEXT) };
  }
  const e = err as Error & Record<string, unknown>;
  const out: Record<string, unknown> = { type: err.constructor?.name ?? err.name, message: scrub(err.message).slice(0, MAX_TEXT) };
  for (const key of ['code', 'status', 'method'] as const) {
    if (typeof e[key] === 'string' || typeof e[key] === 'number') out[key] = e[key];
  }
  if (typeof e.url === 'string') out.url = scrub(e.url);
  if (err.stack) out.stack = scrub(err.stack).slice(0, MAX_TEXT);
  if (err.cause !== undefined && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/** Interaction and webhook tokens in Discord paths, and bot tokens anywhere. */
export function scrub(text: string): string {
  return text
    .replace(/\/(webhooks|interactions)\/(\d+)\/[^/?\s]+/g, '/$1/$2/[token]')
    .replace(/[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,}/g, '[token]');
}

export type { Logger };
