import * as spec from 'discord-api-spec/zod';
import { config, locales, type ZodMiniType } from 'zod/mini';
import { issue, type FieldIssue } from './errors.ts';
import type { JsonObject } from './state.ts';

/**
 * Request and response bodies checked against the zod schemas that `discord-api-spec` generates from
 * Discord's own OpenAPI document. Route keys are "METHOD /path/:param" as in server.ts.
 */
// zod/mini ships without messages ("Invalid input"); Discord-style reports need the English ones.
config(locales.en());

type Named = { name: string; schema: ZodMiniType };
const named = (name: keyof typeof spec): Named => ({ name, schema: spec[name] as ZodMiniType });

const CALLBACK_SCHEMAS: Record<number, Named> = {
  1: named('PongInteractionCallbackRequestSchema'),
  4: named('CreateMessageInteractionCallbackRequestSchema'),
  5: named('CreateMessageInteractionCallbackRequestSchema'),
  6: named('UpdateMessageInteractionCallbackRequestSchema'),
  7: named('UpdateMessageInteractionCallbackRequestSchema'),
  8: named('ApplicationCommandAutocompleteCallbackRequestSchema'),
  9: named('ModalInteractionCallbackRequestSchema'),
};

const REQUEST_SCHEMAS: Record<string, (body: unknown) => Named | undefined> = {
  'POST /channels/:channel_id/messages': () => named('MessageCreateRequestSchema'),
  'PATCH /channels/:channel_id/messages/:message_id': () => named('MessageEditRequestPartialSchema'),
  'POST /channels/:channel_id/messages/:message_id/threads': () => named('CreateTextThreadWithMessageRequestSchema'),
  'POST /channels/:channel_id/threads': () => named('CreateTextThreadWithoutMessageRequestSchema'),
  'POST /webhooks/:webhook_id/:webhook_token': () => named('IncomingWebhookRequestPartialSchema'),
  'PATCH /webhooks/:webhook_id/:webhook_token/messages/:message_id': () => named('IncomingWebhookUpdateRequestPartialSchema'),
  'POST /interactions/:interaction_id/:interaction_token/callback': (body) =>
    CALLBACK_SCHEMAS[Number((body as JsonObject | undefined)?.type)],
  'PUT /applications/:application_id/commands': () => named('ApplicationCommandUpdateRequestSchema'),
  'PUT /applications/:application_id/guilds/:guild_id/commands': () => named('ApplicationCommandUpdateRequestSchema'),
};

/** Bulk-overwrite bodies are arrays; their schema describes one element. */
const ARRAY_BODIES = new Set(['PUT /applications/:application_id/commands', 'PUT /applications/:application_id/guilds/:guild_id/commands']);

const RESPONSE_SCHEMAS: Record<string, Named | ((body: JsonObject) => Named)> = {
  'GET /gateway/bot': named('GatewayBotResponseSchema'),
  'GET /users/@me': named('UserPIIResponseSchema'),
  'GET /applications/@me': named('PrivateApplicationResponseSchema'),
  'GET /guilds/:guild_id': named('GuildWithCountsResponseSchema'),
  'GET /guilds/:guild_id/members/:user_id': named('GuildMemberResponseSchema'),
  'GET /channels/:channel_id': (body) => named(body.thread_metadata ? 'ThreadResponseSchema' : 'GuildChannelResponseSchema'),
  'POST /channels/:channel_id/messages': named('MessageResponseSchema'),
  'GET /channels/:channel_id/messages': named('MessageResponseSchema'),
  'GET /channels/:channel_id/messages/:message_id': named('MessageResponseSchema'),
  'PATCH /channels/:channel_id/messages/:message_id': named('MessageResponseSchema'),
  'POST /channels/:channel_id/messages/:message_id/threads': named('ThreadResponseSchema'),
  'POST /channels/:channel_id/threads': named('CreatedThreadResponseSchema'),
  'POST /webhooks/:webhook_id/:webhook_token': named('MessageResponseSchema'),
  'GET /webhooks/:webhook_id/:webhook_token/messages/:message_id': named('MessageResponseSchema'),
  'PATCH /webhooks/:webhook_id/:webhook_token/messages/:message_id': named('MessageResponseSchema'),
  'POST /interactions/:interaction_id/:interaction_token/callback': named('InteractionCallbackResponseSchema'),
  'PUT /applications/:application_id/commands': named('ApplicationCommandResponseSchema'),
  'GET /applications/:application_id/commands': named('ApplicationCommandResponseSchema'),
  'PUT /applications/:application_id/guilds/:guild_id/commands': named('ApplicationCommandResponseSchema'),
  'GET /applications/:application_id/guilds/:guild_id/commands': named('ApplicationCommandResponseSchema'),
};

/** Issues with a request body, or [] when the route has no schema. */
export function requestIssues(routeKey: string, body: unknown): FieldIssue[] {
  const pick = REQUEST_SCHEMAS[routeKey];
  if (!pick) return [];
  const normalized = applySpecQuirks(body);
  const target = pick(normalized);
  if (!target) return [issue(['type'], 'SPEC_UNKNOWN_TYPE', 'No request schema for this type')];
  return ARRAY_BODIES.has(routeKey) ? arrayIssues(target, normalized) : check(target, normalized);
}

/** Issues with what the emulator itself answered: catches incomplete emulated objects. */
export function responseIssues(routeKey: string, body: unknown): FieldIssue[] {
  const entry = RESPONSE_SCHEMAS[routeKey];
  if (!entry || body === undefined) return [];
  const items = Array.isArray(body) ? body : [body];
  return items.flatMap((item, i) => {
    const target = typeof entry === 'function' ? entry(item as JsonObject) : entry;
    return check(target, item).map((issue) => (Array.isArray(body) ? { ...issue, path: [i, ...issue.path] } : issue));
  });
}

function arrayIssues(target: Named, body: unknown): FieldIssue[] {
  if (!Array.isArray(body)) return [issue([], 'SPEC_INVALID_TYPE', 'Expected an array')];
  return body.flatMap((item, i) => check(target, item).map((issue) => ({ ...issue, path: [i, ...issue.path] })));
}

function check(target: Named, value: unknown): FieldIssue[] {
  const result = target.schema.safeParse(value);
  if (result.success) return [];
  return result.error.issues.flatMap((issue) => flatten(issue as RawIssue, [])).map((issue) => ({
    ...issue,
    message: `${issue.message} (discord-api-spec ${target.name})`,
  }));
}

interface RawIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: RawIssue[][];
}

/**
 * A failed union (e.g. "which component type is this?") reports every branch; keep the branch that
 * got furthest, i.e. whose `type` matched, so the message names the real problem.
 */
function flatten(issue: RawIssue, prefix: (string | number)[]): FieldIssue[] {
  const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
  if (issue.code === 'invalid_union' && issue.errors && issue.errors.length > 0) {
    const matching = issue.errors.filter((branch) => !branch.some((i) => i.path.length === 1 && i.path[0] === 'type'));
    const candidates = matching.length > 0 ? matching : issue.errors;
    const best = candidates.reduce((a, b) => (b.length < a.length ? b : a));
    if (matching.length > 0) return best.flatMap((inner) => flatten(inner, path));
  }
  return [{ path, code: `SPEC_${issue.code.toUpperCase()}`, message: issue.message }];
}

/**
 * Places where the published spec is stricter than Discord itself (and than discord.js, which follows
 * Discord): normalized before checking so they do not count as violations.
 */
function applySpecQuirks(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(applySpecQuirks);
  if (typeof body !== 'object' || body === null) return body;
  const out: JsonObject = { ...(body as JsonObject) };
  // Discord documents and accepts permission bitfields as strings; the spec types this one as a number.
  if (typeof out.default_member_permissions === 'string' && /^\d+$/.test(out.default_member_permissions)) {
    out.default_member_permissions = Number(out.default_member_permissions);
  }
  return out;
}
