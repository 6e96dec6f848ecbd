import { NO_QUOTA, type QuotaLimits } from './quota.ts';
import type { Stores } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';

/**
 * The quota in a server: its own settings (/settings), each capped by the bot's (QUOTA_* in the
 * environment) when both set one, so an operator's limit holds everywhere and a server can only be
 * stricter. 0 is no limit on either side. In DMs only the bot's apply.
 */
export function quotaLimitsFor(stores: Stores, bot: QuotaLimits = NO_QUOTA): (guildId: string | null) => Promise<QuotaLimits> {
  return async (guildId) => {
    if (guildId === null) return bot;
    const s = await getServerSettings(stores, guildId);
    return {
      userPerHour: stricter(bot.userPerHour, s.quotaUserPerHour),
      userPerDay: stricter(bot.userPerDay, s.quotaUserPerDay),
      guildPerHour: stricter(bot.guildPerHour, s.quotaGuildPerHour),
      guildPerDay: stricter(bot.guildPerDay, s.quotaGuildPerDay),
    };
  };
}

function stricter(a: number, b: number): number {
  if (a <= 0) return b;
  if (b <= 0) return a;
  return Math.min(a, b);
}
