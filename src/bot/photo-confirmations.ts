import type { ButtonInteraction, ChatInputCommandInteraction } from 'discord.js';
import { ConsentStore } from '../store/consent-store.ts';
import type { ServerSettings } from '../store/server-settings.ts';
import type { BotDeps } from './bot-deps.ts';
import { askToConfirm, type Question } from './confirm-gate.ts';
import { consentMissing } from './photo-consent.ts';

export const CONSENT_QUESTION: Question = {
  content: [
    '**Before the bot uses your photos:** do you have the right to use them? They should be yours, and whoever or whatever is in them should be fine with being pictured.',
    'The bot stores the photos to make your images and your saved subjects; `/subject forget-me` deletes them and this answer. You are asked once.',
  ].join('\n'),
  confirmLabel: 'I have the right to use these photos',
  cancelLabel: 'Cancel',
  cancelled: 'Cancelled: nothing was downloaded or stored.',
};

export const NO_PERSON_QUESTION: Question = {
  content: [
    '**This server does not allow pictures of real people.** Do your photos show no real person?',
    'Nothing looks at the photos to check this: the bot goes by your answer.',
  ].join('\n'),
  confirmLabel: 'No real person in them',
  cancelLabel: 'They show a person',
  cancelled: 'This server does not allow photos of real people, so nothing was made or stored. Photos of pets, things or places are fine here.',
};

export type PhotoConfirmation = { asked: false } | { asked: true; click: ButtonInteraction } | null;

/**
 * Before a command stores or uses photos: asks for consent if this user never gave it (and records it
 * with its time once given) and, where the server does not allow people, for "no real person" every
 * time. Nothing to ask: { asked: false }. Confirmed: the last click, for the caller to answer. Null:
 * cancelled or unanswered, and the user has been told.
 */
export async function confirmPhotoUse(interaction: ChatInputCommandInteraction, deps: BotDeps, settings: ServerSettings): Promise<PhotoConfirmation> {
  const askConsent = await consentMissing(deps, interaction.user.id, settings);
  const questions = [...(askConsent ? [CONSENT_QUESTION] : []), ...(settings.peopleAllowed ? [] : [NO_PERSON_QUESTION])];
  if (questions.length === 0) return { asked: false };
  const click = await askToConfirm(interaction, questions);
  if (!click) return null;
  if (askConsent) await new ConsentStore(deps.stores.store, deps.now).record(interaction.user.id);
  return { asked: true, click };
}
