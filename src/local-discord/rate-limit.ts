import { createHash } from 'node:crypto';
import { DiscordHttpError } from './errors.ts';

/** A 429 a test asked for: the next request matching `method` and `path` gets it, once. */
export interface ForcedRateLimit {
  method?: string;
  /** Exact request path after /api/v10 (e.g. "/channels/1/messages"), or a pattern. */
  path: string | RegExp;
  retryAfterMs: number;
  global?: boolean;
}

export interface RateLimitVerdict {
  headers: Record<string, string>;
  limited?: { error: DiscordHttpError; isViolation: boolean };
}

/**
 * Per-bucket X-RateLimit-* headers in real time (discord.js sleeps in real time). Enforced: a bot that
 * ignores the advertised limit or retries before retry_after gets another 429 and a violation. A bot
 * process that identified after a limit was advertised (a restart) could not have seen it: its
 * request gets the 429 without a violation, and from then on it knows.
 *
 * A client keeps what it was told per bucket hash and major parameter, as discord.js does: until a
 * response has told it a route's hash it holds that route's limits apart, and on learning the hash
 * it starts afresh under it. A limit advertised to a request sent before the hash was known is
 * therefore not known to the next request (Discord answers that one 429, an invalid request, as
 * here); the 429 it gets is then known under the hash.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly retryNotBefore = new Map<string, number>();
  /** Buckets whose exhaustion (remaining 0 or a 429) was told to the client connected now, each as `${keying}|${bucket}`. */
  private readonly advertised = new Set<string>();
  /** Routes (method and path template) whose bucket hash a response has told the client connected now. */
  private readonly hashTold = new Set<string>();
  private readonly forced: ForcedRateLimit[] = [];

  constructor(
    private readonly limit = 50,
    private readonly windowMs = 1000,
  ) {}

  /** A new client identified: what earlier clients were told is unknown to it. */
  newClient(): void {
    this.advertised.clear();
    this.hashTold.clear();
  }

  force(entry: ForcedRateLimit): void {
    this.forced.push(entry);
  }

  check(bucket: string, method: string, path: string): RateLimitVerdict {
    const now = Date.now();
    const window = this.window(bucket, now);
    window.count += 1;
    const headers = this.headers(bucket, window, now);
    const route = routeOf(bucket);
    // How the client files this request: under the route's hash once a response has told it, else under the route.
    const told = `${this.hashTold.has(route) ? 'hash' : 'route'}|${bucket}`;
    this.hashTold.add(route);
    const forced = this.takeForced(method, path);
    if (forced) return { headers, limited: this.limited(told, bucket, forced.retryAfterMs, forced.global ?? false, false, headers) };
    const known = this.advertised.has(told);
    const notBefore = this.retryNotBefore.get(bucket) ?? 0;
    if (now < notBefore) return { headers, limited: this.limited(told, bucket, notBefore - now, false, known, headers) };
    if (window.count > this.limit) return { headers, limited: this.limited(told, bucket, window.resetAt - now, false, known, headers) };
    if (window.count >= this.limit) this.advertised.add(told);
    return { headers };
  }

  private window(bucket: string, now: number): { count: number; resetAt: number } {
    let window = this.windows.get(bucket);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(bucket, window);
    }
    return window;
  }

  private headers(bucket: string, window: { count: number; resetAt: number }, now: number): Record<string, string> {
    return {
      'x-ratelimit-limit': String(this.limit),
      'x-ratelimit-remaining': String(Math.max(0, this.limit - window.count)),
      'x-ratelimit-reset': (window.resetAt / 1000).toFixed(3),
      'x-ratelimit-reset-after': ((window.resetAt - now) / 1000).toFixed(3),
      'x-ratelimit-bucket': createHash('sha1').update(routeOf(bucket)).digest('hex').slice(0, 16),
    };
  }

  private takeForced(method: string, path: string): ForcedRateLimit | undefined {
    const index = this.forced.findIndex(
      (f) => (!f.method || f.method.toUpperCase() === method) && (typeof f.path === 'string' ? f.path === path : f.path.test(path)),
    );
    return index < 0 ? undefined : this.forced.splice(index, 1)[0];
  }

  private limited(told: string, bucket: string, retryAfterMs: number, global: boolean, isViolation: boolean, headers: Record<string, string>) {
    this.retryNotBefore.set(bucket, Date.now() + retryAfterMs);
    this.advertised.add(told);
    const seconds = Math.max(0.001, retryAfterMs / 1000);
    // Discord rounds the header up to whole seconds; the exact value keeps tests fast and discord.js reads it the same way.
    headers['retry-after'] = seconds.toFixed(3);
    headers['x-ratelimit-scope'] = global ? 'global' : 'user';
    headers['x-ratelimit-remaining'] = '0';
    headers['x-ratelimit-reset-after'] = seconds.toFixed(3);
    headers['x-ratelimit-reset'] = ((Date.now() + retryAfterMs) / 1000).toFixed(3);
    if (global) headers['x-ratelimit-global'] = 'true';
    const message = isViolation ? 'You are being rate limited (request ignored the advertised limit or retry_after).' : 'You are being rate limited.';
    const error = new DiscordHttpError(429, 0, message, 'ratelimit', [], { retry_after: seconds, global });
    return { error, isViolation };
  }
}

/** The route part of a bucket (`POST /channels/:channel_id/messages|<major>`): one hash per route, shared by its major parameters. */
function routeOf(bucket: string): string {
  return bucket.split('|')[0];
}
