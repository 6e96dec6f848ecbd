import { UserFacingError } from '../errors.ts';

/**
 * The store could not be read or written (Redis unreachable, the disk full or failing). Its code,
 * 'store_unavailable', is what marks an outage among user-facing errors (isStoreOutage, userMessage):
 * an outage is reported as one, never as "that subject/photo/job is gone".
 */
export class StoreUnavailableError extends UserFacingError {
  declare readonly code: 'store_unavailable';

  constructor(message = "The bot can't save anything right now (its storage is unavailable), so nothing was kept; please try again in a few minutes.") {
    super('store_unavailable', message);
  }
}

/** node-redis' errors for a connection that is down, and the socket errors under them. */
const OUTAGE_NAMES = new Set(['ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError', 'ConnectionTimeoutError', 'ReconnectStrategyError']);
/** Errors of the disk or the database file rather than of a request: SQLite's and the system's (not our ErrorCodes). */
const OUTAGE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EIO',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_BUSY',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_CORRUPT',
]);

/** Whether `err` (or an error it wraps) says the store itself is unavailable, not that a request was wrong. */
export function isStoreOutage(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    // Ours, by its typed code: StoreUnavailableError, also as rebuilt from another thread's wire form.
    if (e instanceof UserFacingError) {
      if (e.code === 'store_unavailable') return true;
      continue;
    }
    const { name, code, message } = e as { name?: unknown; code?: unknown; message?: unknown };
    if (typeof name === 'string' && OUTAGE_NAMES.has(name)) return true;
    // SQLite's extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_TIMEOUT) count as their primary code.
    if (typeof code === 'string' && (OUTAGE_CODES.has(code) || OUTAGE_CODES.has(code.split('_').slice(0, 2).join('_')))) return true;
    if (typeof message === 'string' && /^(The client is (closed|offline)|Socket closed unexpectedly|SQLITE_(FULL|IOERR|BUSY|CANTOPEN|READONLY|CORRUPT)\b)/.test(message)) return true;
  }
  return false;
}
