import type { Logger } from 'pino';
import { UserFacingError } from '../errors.ts';
import { isStoreOutage, StoreUnavailableError } from '../store/store-outage.ts';

export const INTERNAL_ERROR_MESSAGE = 'Something went wrong on our side. It has been logged; please try again.';

/**
 * The line a user sees for an error: theirs to fix, the storage outage line, or a generic one (the details go
 * to the log). An outage is told by its typed code ('store_unavailable') or, for the store's own errors
 * (Redis, SQLite, the disk), by isStoreOutage: never by a message, and never shown as "gone".
 */
export function userMessage(err: unknown, logger: Logger, context: Record<string, unknown>): string {
  if (err instanceof UserFacingError) {
    if (err.code === 'store_unavailable') logger.warn({ err, ...context }, 'store unavailable');
    return err.message;
  }
  if (isStoreOutage(err)) {
    logger.warn({ err, ...context }, 'store unavailable');
    return new StoreUnavailableError().message;
  }
  logger.error({ err, ...context }, 'unexpected error');
  return INTERNAL_ERROR_MESSAGE;
}
