import type { ChatInputCommandInteraction } from 'discord.js';
import { InputError } from '../errors.ts';
import type { JobRecord } from '../store/index.ts';
import { getServerSettings, type ServerSettings } from '../store/server-settings.ts';
import { findBlockedPhrase } from '../util/blocked-phrases.ts';
import { safeText } from '../util/safe-text.ts';
import type { BotDeps } from './bot-deps.ts';

/** /personalize only in the server's allowed channels (and their threads), when it has a list. */
export function assertChannelAllowed(settings: ServerSettings, interaction: ChatInputCommandInteraction): void {
  if (settings.channels.length === 0 || !interaction.inGuild()) return;
  const channel = interaction.channel;
  const ids = [interaction.channelId, channel?.isThread() ? channel.parentId : null];
  if (ids.some((id) => id !== null && settings.channels.includes(id))) return;
  const shown = settings.channels.slice(0, 10).map((id) => `<#${id}>`).join(', ');
  const more = settings.channels.length > 10 ? ` and ${settings.channels.length - 10} more` : '';
  throw new InputError('channel_not_allowed', `This server allows \`/personalize\` only in ${shown}${more}.`);
}

/** Prompts, names and contexts with a phrase on the server's block list are refused. */
export function assertNotBlocked(settings: ServerSettings, texts: (string | null | undefined)[]): void {
  const phrase = findBlockedPhrase(texts, settings.blockedPhrases);
  if (phrase !== undefined) throw new InputError('blocked_phrase', `This server does not allow “${safeText(phrase)}” in prompts, names or contexts.`);
}

/**
 * The image count, candidates and guidance to use: the server's defaults when not given, refused above
 * its caps. A group of candidates shows one image at a time, so it does not mix with several images.
 */
export function applyCaps(
  settings: ServerSettings,
  given: { count: number | null; guidance: number | null; candidates?: number | null },
): { count: number; cfgWeight: number; candidates: number } {
  if ((given.count ?? 1) > 1 && (given.candidates ?? 1) > 1) throw new InputError('count_and_candidates', 'Use either `count` or `candidates`, not both.');
  const candidates = given.candidates ?? (given.count !== null ? 1 : settings.candidatesDefault);
  const count = candidates > 1 ? 1 : (given.count ?? settings.countDefault);
  const cfgWeight = given.guidance ?? settings.guidanceDefault;
  if (candidates > settings.candidatesMax) throw new InputError('candidates_cap', `This server allows at most ${settings.candidatesMax} candidate${settings.candidatesMax === 1 ? '' : 's'}.`);
  if (count > settings.countMax) throw new InputError('count_cap', `This server allows at most ${settings.countMax} image${settings.countMax === 1 ? '' : 's'} at once.`);
  if (cfgWeight > settings.guidanceMax) throw new InputError('guidance_cap', `This server allows guidance up to ${settings.guidanceMax}.`);
  return { count, cfgWeight, candidates };
}

/** Where the reasoning is private, it is not posted with the image. */
export function assertTraceAllowed(settings: ServerSettings, trace: boolean): void {
  if (trace && !settings.tracePublic) {
    throw new InputError('trace_private', 'This server keeps the reasoning private: leave out `trace`. The **Show reasoning** button under your image shows it to you alone.');
  }
}

/**
 * Rerolls and refinements (buttons, the Refine modal, replies in the thread): new text meets the block
 * list. (New photos need their owner's consent: each entry point declares it, photo-consent.ts.)
 * Returns the server's settings (its jobs_per_user cap is decided with the queue's caps when the job is
 * admitted).
 */
export async function assertFollowUpAllowed(deps: BotDeps, parent: JobRecord, change: { prompt?: string }): Promise<ServerSettings> {
  const settings = await getServerSettings(deps.stores, parent.guildId);
  assertNotBlocked(settings, [change.prompt]);
  return settings;
}
