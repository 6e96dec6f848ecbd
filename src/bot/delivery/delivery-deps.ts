import type { DeliveryClaims } from '../../jobs/delivery-claims.ts';
import type { Stores } from '../../store/index.ts';
import type { StatusDeps } from '../status/settle-status.ts';

/** What posting results needs of the bot's dependencies (BotDeps extends it). */
export interface DeliveryDeps extends StatusDeps {
  stores: Stores;
  /** Who posts a finished result (one process, however many see it finish). */
  claims: DeliveryClaims;
  /** The upscaler's factor where one is loaded (UPSCALER_DIR): the Upscale button under a result; absent: no button. */
  upscale?: { scale: number };
  /** When a result Discord did not take is posted again by this process (default REDELIVERY_DELAYS_MS). */
  redeliveryDelaysMs?: readonly number[];
}
