import type { Logger } from 'pino';
import type { DeliveryClaims } from '../../jobs/delivery-claims.ts';
import type { Stores } from '../../store/index.ts';

/** What posting results needs of the bot's dependencies (BotDeps has them all). */
export interface DeliveryDeps {
  logger: Logger;
  stores: Stores;
  /** Who posts a finished result (one process, however many see it finish). */
  claims: DeliveryClaims;
  /** The upscaler's factor where one is loaded: the Upscale button under a result; absent: no button. */
  upscale?: { scale: number };
  /** Pauses between attempts at posting a result or a final status (default DISCORD_RETRY_DELAYS_MS). */
  retryDelaysMs?: readonly number[];
  /** When a result Discord did not take is posted again by this process (default REDELIVERY_DELAYS_MS). */
  redeliveryDelaysMs?: readonly number[];
}
