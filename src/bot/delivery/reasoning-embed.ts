import { EmbedBuilder } from 'discord.js';
import { safeText } from '../../util/safe-text.ts';

/** What an empty grounding means, in words: the model described nothing, and the picture went on without it. */
export const EMPTY_GROUNDING = 'The model wrote nothing about your subject this time (an empty grounding), so the picture was drawn from your words and photos alone.';

/** The grounding text under a result (trace) or shown to the clicker (Show reasoning). */
export function reasoningEmbed(text: string): EmbedBuilder {
  // Model output, but it repeats the user's name and context: shown literally like user text.
  // Control, private-use and unassigned characters and U+FFFD (bytes of a character cut by the model) carry nothing to read.
  const readable = text.replace(/[\p{Cc}\p{Co}\p{Cn}\p{Cs}\uFFFD]/gu, (c) => (c === '\n' ? c : '')).trim();
  return new EmbedBuilder().setTitle('How I see your subject').setDescription(readable ? safeText(readable, { max: 4096 }) : EMPTY_GROUNDING);
}
