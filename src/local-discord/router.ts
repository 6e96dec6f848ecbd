import type { IncomingHttpHeaders } from 'node:http';
import type { UploadedFile } from './multipart.ts';
import type { JsonObject } from './state.ts';

export interface RouteContext {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The parsed JSON (or payload_json) body, whatever its shape. */
  json: unknown;
  /** `json` when it is an object, else {}. */
  body: JsonObject;
  files: UploadedFile[];
}

export interface RouteResult {
  status: number;
  body?: unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. "/channels/:channel_id/messages"; `:name` matches one path segment. */
  pattern: string;
  /** Bot routes need `Authorization: Bot <token>`; interaction callbacks and webhooks need none. */
  auth: 'bot' | 'none';
  handle(ctx: RouteContext): RouteResult | Promise<RouteResult>;
}

export type RouteMatch = { route: Route; params: Record<string, string> };

export const routeKey = (route: Route): string => `${route.method} ${route.pattern}`;

/** Finds the route for a path; `methodMismatch` is set when the path exists under another method. */
export function matchRoute(routes: Route[], method: string, path: string): { match?: RouteMatch; methodMismatch: boolean } {
  let methodMismatch = false;
  for (const route of routes) {
    const params = matchPattern(route.pattern, path);
    if (!params) continue;
    if (route.method === method) return { match: { route, params }, methodMismatch: false };
    methodMismatch = true;
  }
  return { methodMismatch };
}

function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const segment = safeDecode(got[i]);
    if (want[i].startsWith(':')) params[want[i].slice(1)] = segment;
    else if (want[i] !== segment) return undefined;
  }
  return params;
}

/** Clients may percent-encode segments (discord.js sends /users/%40me). */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Rate-limit bucket: the route plus its major parameter, as Discord buckets them. */
export function bucketOf(route: Route, params: Record<string, string>): string {
  const major = params.channel_id ?? params.guild_id ?? (params.webhook_id ? `${params.webhook_id}/${params.webhook_token}` : params.interaction_id) ?? '';
  return `${routeKey(route)}|${major}`;
}
