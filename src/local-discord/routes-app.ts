import { commandListIssues, newCommandCount, overwriteCommands } from './commands.ts';
import type { EmulatorCore } from './core.ts';
import { errors, fieldError } from './errors.ts';
import { applicationFlags } from './intents.ts';
import type { Route, RouteContext } from './router.ts';
import type { JsonObject } from './state.ts';

/** Gateway discovery, the bot's own user and application, and application commands. */
export function appRoutes(core: EmulatorCore): Route[] {
  const { state, renderer } = core;
  const creates = new Map<string, { day: number; count: number }>();

  const scopeOf = (ctx: RouteContext): string => {
    if (ctx.params.application_id !== state.applicationId) throw errors.missingAccess();
    if (!ctx.params.guild_id) return 'global';
    state.member(ctx.params.guild_id, state.botUserId);
    return ctx.params.guild_id;
  };

  /** Discord allows 200 new commands per day per scope; each bulk overwrite adding a name counts. */
  const countCreates = (scope: string, added: number) => {
    const day = Math.floor(core.clock.now() / 86_400_000);
    const entry = creates.get(scope)?.day === day ? creates.get(scope)! : { day, count: 0 };
    if (entry.count + added > core.dailyCommandCreateLimit) throw errors.dailyCommandCreates(core.dailyCommandCreateLimit);
    entry.count += added;
    creates.set(scope, entry);
  };

  const overwrite = (ctx: RouteContext) => {
    const scope = scopeOf(ctx);
    if (!Array.isArray(ctx.json)) throw fieldError([], 'BASE_TYPE_ARRAY', 'Expected an array of commands');
    const input = ctx.json as JsonObject[];
    const issues = commandListIssues(input);
    if (issues.length > 0) throw errors.invalidFormBody(issues, 'limit');
    countCreates(scope, newCommandCount(state, scope, input));
    const commands = overwriteCommands(state, scope, input);
    core.events.push({ kind: 'commands_update', scope, commands });
    return { status: 200, body: commands };
  };

  const list = (ctx: RouteContext) => ({ status: 200, body: state.commands.get(scopeOf(ctx)) ?? [] });

  return [
    {
      method: 'GET',
      pattern: '/gateway/bot',
      auth: 'bot',
      handle: () => ({
        status: 200,
        body: { url: core.gateway.url, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } },
      }),
    },
    { method: 'GET', pattern: '/users/@me', auth: 'bot', handle: () => ({ status: 200, body: renderer.selfUser() }) },
    { method: 'GET', pattern: '/applications/@me', auth: 'bot', handle: () => ({ status: 200, body: application(core) }) },
    { method: 'GET', pattern: '/applications/:application_id/commands', auth: 'bot', handle: list },
    { method: 'PUT', pattern: '/applications/:application_id/commands', auth: 'bot', handle: overwrite },
    { method: 'GET', pattern: '/applications/:application_id/guilds/:guild_id/commands', auth: 'bot', handle: list },
    { method: 'PUT', pattern: '/applications/:application_id/guilds/:guild_id/commands', auth: 'bot', handle: overwrite },
  ];
}

function application(core: EmulatorCore): JsonObject {
  const { state, renderer } = core;
  const flags = applicationFlags(core.allowedPrivilegedIntents);
  return {
    id: state.applicationId,
    name: state.user(state.botUserId).username,
    icon: null,
    description: '',
    type: null,
    flags,
    flags_new: String(flags),
    bot: renderer.user(state.user(state.botUserId)),
    bot_public: true,
    bot_require_code_grant: false,
    verify_key: '0'.repeat(64),
    redirect_uris: [],
    interactions_endpoint_url: null,
    role_connections_verification_url: null,
    owner: renderer.user(state.user(core.appOwnerId)),
    approximate_guild_count: state.guilds.size,
    approximate_user_install_count: 0,
    approximate_user_authorization_count: 0,
    explicit_content_filter: 0,
    team: null,
    eligible_oauth2_scopes: [],
    integration_types_config: { '0': {} },
  };
}
