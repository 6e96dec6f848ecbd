import type { EmulatorCore } from './core.ts';
import type { Route } from './router.ts';

/** Guild and member lookups. */
export function guildRoutes(core: EmulatorCore): Route[] {
  const { state, renderer } = core;
  return [
    {
      method: 'GET',
      pattern: '/guilds/:guild_id',
      auth: 'bot',
      handle: (ctx) => {
        const guild = state.guild(ctx.params.guild_id);
        state.member(guild.id, state.botUserId);
        return { status: 200, body: renderer.guild(guild) };
      },
    },
    {
      method: 'GET',
      pattern: '/guilds/:guild_id/members/:user_id',
      auth: 'bot',
      handle: (ctx) => ({ status: 200, body: renderer.member(state.member(ctx.params.guild_id, ctx.params.user_id)) }),
    },
  ];
}
