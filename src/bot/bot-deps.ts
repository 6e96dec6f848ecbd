import type { ForgetReach } from '../jobs/forget-reach.ts';
import type { JobRunner } from '../jobs/job-runner.ts';
import type { QueueView } from '../jobs/queue-view.ts';
import type { Quota } from '../jobs/quota.ts';
import type { DeliveryDeps } from './delivery/delivery-deps.ts';

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

/** What command handlers get: configuration and the long-lived parts, built once at start (posting results: DeliveryDeps). */
export interface BotDeps extends DeliveryDeps {
  config: BotSettings;
  queue: QueueView;
  /** Images per hour and per day, per member and per server. */
  quota: Quota;
  /** Stops every gateway's postings of a user before forget-me deletes their data. */
  forgetReach: ForgetReach;
  /** Runs queued jobs: in this process (GenerationService) or on model workers through Redis (ClusterRunner). */
  runner: JobRunner;
  /** Checks typed text (prompts, names, contexts) against the loaded bundle's reserved tokens before anything is queued. */
  textRules: TextRules;
  /** Hosts attachments may be downloaded from (Discord's CDN; tests add their local CDN). */
  attachmentHosts: readonly string[];
  /** Whether the gateway delivers message content (the privileged MessageContent intent). */
  messageContent: boolean;
  /** The bot's clock, for interaction-token age (tests share the emulator's clock). */
  now(): number;
}
