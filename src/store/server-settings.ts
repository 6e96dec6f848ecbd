import { z } from 'zod';
import { InputError } from '../errors.ts';
import { MAX_CANDIDATES, MAX_COUNT } from '../request-options.ts';
import { charCount } from '../util/text-length.ts';
import type { Stores } from './index.ts';
import type { Store } from './open-store.ts';

/** Bumped when a stored record changes incompatibly; new fields with defaults need no bump. */
export const SERVER_SETTINGS_VERSION = 1;
export const MAX_ALLOWED_CHANNELS = 50;
export const MAX_BLOCKED_PHRASES = 100;
export const BLOCKED_PHRASE_MAX_CHARS = 100;
export const MAX_JOBS_PER_USER = 50;
export const MAX_QUOTA = 100_000;

const snowflake = z.string().regex(/^\d{17,20}$/);
const quota = z.number().int().min(0).max(MAX_QUOTA).default(0);

/** One server's settings as stored (namespace "settings", key: the server id). Every field has a default. */
export const ServerSettingsSchema = z
  .object({
    version: z.literal(SERVER_SETTINGS_VERSION).default(SERVER_SETTINGS_VERSION),
    countDefault: z.number().int().min(1).max(MAX_COUNT).default(1),
    countMax: z.number().int().min(1).max(MAX_COUNT).default(MAX_COUNT),
    /** Candidates drawn and ranked per /personalize when not given (1: a plain image), and the most allowed. */
    candidatesDefault: z.number().int().min(1).max(MAX_CANDIDATES).default(1),
    candidatesMax: z.number().int().min(1).max(MAX_CANDIDATES).default(4),
    guidanceDefault: z.number().min(1).max(20).default(5),
    guidanceMax: z.number().min(1).max(20).default(20),
    /** Images one member may have waiting or running in this server at once; 0: only the bot-wide limits. */
    jobsPerUser: z.number().int().min(0).max(MAX_JOBS_PER_USER).default(0),
    /** Images per member / per server per hour and per day; 0: no limit. Enforced by src/jobs/quota.ts. */
    quotaUserPerHour: quota,
    quotaUserPerDay: quota,
    quotaGuildPerHour: quota,
    quotaGuildPerDay: quota,
    /** false: only members with Manage Server may share subjects here. */
    membersMayShare: z.boolean().default(true),
    /** Who may delete a subject shared here: its owner, or also members with Manage Server. */
    sharedDelete: z.enum(['owner_or_manager', 'owner_only']).default('owner_or_manager'),
    /** false: the reasoning is shown to the image's owner only (no trace embed, Show reasoning for them alone). */
    tracePublic: z.boolean().default(true),
    /** Channels /personalize may be used in (their threads too); empty: everywhere. */
    channels: z.array(snowflake).max(MAX_ALLOWED_CHANNELS).default([]),
    /** Words or phrases refused in prompts, names and contexts (see src/util/blocked-phrases.ts). */
    blockedPhrases: z.array(z.string().min(1).refine((p) => charCount(p) <= BLOCKED_PHRASE_MAX_CHARS)).max(MAX_BLOCKED_PHRASES).default([]),
    /** false: members must confirm their photos show no real person (nothing checks the pixels). */
    peopleAllowed: z.boolean().default(true),
    /** Ask each member once to confirm they may use their photos; unset: the bot's default (CONSENT_REQUIRED). */
    consentRequired: z.boolean().optional(),
    /** Record picks, reactions, regenerations and refinements of candidates as training data (npm run export-feedback). */
    feedback: z.boolean().default(true),
    /** false: no Upscale button under results here. */
    upscale: z.boolean().default(true),
    /** The largest upscale factor here (the model's output is resized down to it); 0: the model's own. */
    upscaleMax: z.number().int().min(0).max(8).default(0),
    /** Where settings changes are logged; null: nowhere. */
    modLogChannel: snowflake.nullable().default(null),
  })
  .refine((s) => s.countDefault <= s.countMax, { message: 'The default image count cannot be above the maximum.' })
  .refine((s) => s.candidatesDefault <= s.candidatesMax, { message: 'The default candidate count cannot be above the maximum.' })
  .refine((s) => s.guidanceDefault <= s.guidanceMax, { message: 'The default guidance cannot be above the maximum.' });

export type ServerSettings = z.output<typeof ServerSettingsSchema>;

export const DEFAULT_SERVER_SETTINGS: ServerSettings = Object.freeze(ServerSettingsSchema.parse({})) as ServerSettings;

function storeOf(source: Stores | Store): Store {
  return 'store' in source ? source.store : source;
}

/**
 * A server's settings, validated, with defaults for what was never set. Outside a server (DMs) and for
 * a server that never changed anything: the defaults. A stored record that does not validate is an
 * error, not a silent fall-back to defaults (that would quietly lift a server's block list or caps).
 */
export async function getServerSettings(source: Stores | Store, guildId: string | null): Promise<ServerSettings> {
  if (guildId === null) return DEFAULT_SERVER_SETTINGS;
  const raw = await storeOf(source).ns('settings').get(guildId);
  if (raw === undefined) return DEFAULT_SERVER_SETTINGS;
  const parsed = ServerSettingsSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`stored settings of server ${guildId} are invalid: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * Applies `change` to a server's settings under the server's lock and stores the result; returns both
 * versions. A result that breaks a rule (a default above its maximum, too many entries) is refused with
 * an InputError and nothing is stored.
 */
export async function updateServerSettings(
  source: Stores | Store,
  guildId: string,
  change: (current: ServerSettings) => Partial<ServerSettings>,
): Promise<{ before: ServerSettings; after: ServerSettings }> {
  const store = storeOf(source);
  return store.locks.run(`settings:${guildId}`, async () => {
    const before = await getServerSettings(store, guildId);
    const parsed = ServerSettingsSchema.safeParse({ ...before, ...change(before), version: SERVER_SETTINGS_VERSION });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError('setting_invalid', issue?.code === 'custom' ? issue.message : `That setting is not valid (${issue?.path.join('.')}: ${issue?.message}).`);
    }
    await store.ns('settings').set(guildId, parsed.data);
    return { before, after: parsed.data };
  });
}
