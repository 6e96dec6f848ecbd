/** Errors closer together than this belong to one outage (a client reconnecting fails every few seconds). */
const QUIET_MS = 30_000;

/**
 * An error handler for a connection that reconnects by itself (Redis clients): the first error of an
 * outage is told once, as one line (message and code, no stack), and the rest of that outage is not.
 */
export function oncePerOutage(tell: (fields: { err: { message: string; code?: string } }, msg: string) => void, what: string, now: () => number = Date.now): (err: unknown) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (err: unknown) => {
    const at = now();
    const fresh = at - last > QUIET_MS;
    last = at;
    if (!fresh) return;
    const e = err as { message?: unknown; code?: unknown } | null;
    const message = typeof e?.message === 'string' && e.message ? e.message.split('\n')[0] : String(err);
    tell({ err: { message, ...(typeof e?.code === 'string' ? { code: e.code } : {}) } }, `${what} unavailable; retrying until it is back`);
  };
}
