import { InputError } from '../errors.ts';
import { ConsentStore } from '../store/consent-store.ts';
import type { ServerSettings } from '../store/server-settings.ts';
import type { BotDeps } from './bot-deps.ts';

/** Whether members must confirm, once, that they may use their photos, in a server with these settings. */
export function consentRequired(deps: Pick<BotDeps, 'config'>, settings: ServerSettings): boolean {
  return settings.consentRequired ?? deps.config.consentRequired ?? true;
}

/** Whether `userId` has yet to confirm that they may use their photos, in a server with these settings. */
export async function consentMissing(deps: Pick<BotDeps, 'config' | 'stores' | 'now'>, userId: string, settings: ServerSettings): Promise<boolean> {
  return consentRequired(deps, settings) && !(await new ConsentStore(deps.stores.store, deps.now).get(userId));
}

/**
 * Where new photos come without a place to ask (the Refine modal, a reply in the thread): refused while
 * consent is missing, and the owner is sent to /personalize, which asks (photo-confirmations.ts).
 */
export async function assertPhotoConsent(deps: Pick<BotDeps, 'config' | 'stores' | 'now'>, userId: string, settings: ServerSettings): Promise<void> {
  if (await consentMissing(deps, userId, settings)) {
    throw new InputError('consent_needed', 'Before the bot uses new photos, confirm you have the right to use them: run `/personalize` with a photo once (it asks you).');
  }
}
