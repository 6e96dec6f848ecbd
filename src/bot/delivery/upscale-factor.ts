import { getServerSettings } from '../../store/server-settings.ts';
import type { DeliveryDeps } from './delivery-deps.ts';

/**
 * The factor the Upscale button offers in a server: the upscaler's, capped by the server's
 * `/settings upscale max_factor`; undefined (no button) without an upscaler or where the server
 * turned it off.
 */
export async function upscaleFactor(deps: Pick<DeliveryDeps, 'upscale' | 'stores'>, guildId: string | null): Promise<number | undefined> {
  if (!deps.upscale) return undefined;
  const settings = await getServerSettings(deps.stores, guildId);
  if (!settings.upscale) return undefined;
  return settings.upscaleMax ? Math.min(settings.upscaleMax, deps.upscale.scale) : deps.upscale.scale;
}
