import type { CdnServer } from './cdn.ts';
import type { Clock } from './clock.ts';
import type { EventLog } from './events.ts';
import type { Gateway } from './gateway.ts';
import type { InteractionService } from './interactions.ts';
import type { MessageService } from './messages.ts';
import type { Renderer } from './payloads.ts';
import type { EmulatorState } from './state.ts';

/** The shared pieces every route handler works with. */
export interface EmulatorCore {
  state: EmulatorState;
  clock: Clock;
  renderer: Renderer;
  messages: MessageService;
  interactions: InteractionService;
  gateway: Gateway;
  events: EventLog;
  cdn: CdnServer;
  token: string;
  appOwnerId: string;
  dailyCommandCreateLimit: number;
  allowedPrivilegedIntents: number;
}
