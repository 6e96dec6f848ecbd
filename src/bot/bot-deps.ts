import type { Logger } from 'pino';
import type { JobRunner } from '../jobs/job-runner.ts';
import type { QueueView } from '../jobs/queue-view.ts';
import type { Quota } from '../jobs/quota.ts';
import type { DeliveryClaims } from '../jobs/delivery-claims.ts';
import type { Stores } from '../store/index.ts';

/** What the gateway's handlers read of the configuration (a part of the gateway's, src/app/config.ts). */
export interface BotSettings {
  /** Photos one subject or job may use. */
  maxSubjectPhotos: number;
  /** Largest photo downloaded (bytes). */
  maxPhotoBytes: number;
  /** Servers that did not choose (/settings privacy) ask each member once to confirm they may use their photos; default true. */
  consentRequired?: boolean;
}

/** The loaded bundle's rules for typed text (UserTextRules): throws InputError for the first field that breaks one. */
export interface TextRules {
  check(fields: Record<string, string | null | undefined>, options?: { required?: string[] }): void;
}

/** What command handlers get: configuration and the long-lived parts, built once at start. */
export interface BotDeps {
  config: BotSettings;
  logger: Logger;
  stores: Stores;
  queue: QueueView;
  /** Images per hour and per day, per member and per server. */
  quota: Quota;
  generation: JobRunner;
  /** Who posts a finished result (one process, however many see it finish). */
  claims: DeliveryClaims;
  /** Checks typed text (prompts, names, contexts) against the loaded bundle's reserved tokens before anything is queued. */
  textRules: TextRules;
  /** The upscaler's factor where one is loaded (UPSCALER_DIR): the Upscale button; absent: no button. */
  upscale?: { scale: number };
  /** Hosts attachments may be downloaded from (Discord's CDN; tests add their local CDN). */
  attachmentHosts: readonly string[];
  /** Whether the gateway delivers message content (the privileged MessageContent intent). */
  messageContent: boolean;
  /** The bot's clock, for interaction-token age (tests share the emulator's clock). */
  now(): number;
  /** Pauses between attempts at posting a result or a final status (default DISCORD_RETRY_DELAYS_MS; tests shorten them). */
  retryDelaysMs?: readonly number[];
  /** When a result Discord did not take is posted again by this process (default REDELIVERY_DELAYS_MS). */
  redeliveryDelaysMs?: readonly number[];
}
