/** What a rejected request is about; used to group violations. */
export type ViolationKind =
  | 'schema'
  | 'limit'
  | 'timing'
  | 'auth'
  | 'route'
  | 'state'
  | 'permission'
  | 'ratelimit'
  | 'gateway'
  | 'cdn'
  | 'emulator';

/** One field-level complaint, in the shape of Discord's "Invalid Form Body" errors. */
export interface FieldIssue {
  path: (string | number)[];
  code: string;
  message: string;
}

export function issue(path: FieldIssue['path'], code: string, message: string): FieldIssue {
  return { path, code, message };
}

/** An HTTP error answered exactly as Discord would: status plus {message, code, errors?}. */
export class DiscordHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly kind: ViolationKind,
    readonly issues: FieldIssue[] = [],
    readonly extraBody: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** Extra explanation for the test's violation report; never sent to the bot. */
  detail?: string;

  withDetail(detail: string): this {
    this.detail = detail;
    return this;
  }

  body(): Record<string, unknown> {
    const body: Record<string, unknown> = { message: this.message, code: this.code, ...this.extraBody };
    if (this.issues.length > 0) body.errors = nestIssues(this.issues);
    return body;
  }
}

/** Turns flat issue paths into Discord's nested `errors` object with `_errors` leaves. */
function nestIssues(issues: FieldIssue[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const issue of issues) {
    let node = root;
    for (const key of issue.path) {
      node = (node[String(key)] ??= {}) as Record<string, unknown>;
    }
    const list = (node._errors ??= []) as unknown[];
    list.push({ code: issue.code, message: issue.message });
  }
  return root;
}

export const errors = {
  invalidFormBody: (issues: FieldIssue[], kind: ViolationKind = 'schema') =>
    new DiscordHttpError(400, 50035, 'Invalid Form Body', kind, issues),
  emptyMessage: () => new DiscordHttpError(400, 50006, 'Cannot send an empty message', 'limit'),
  unauthorized: () => new DiscordHttpError(401, 0, '401: Unauthorized', 'auth'),
  notFound: () => new DiscordHttpError(404, 0, '404: Not Found', 'route'),
  methodNotAllowed: () => new DiscordHttpError(405, 0, '405: Method Not Allowed', 'route'),
  unknownApplication: () => new DiscordHttpError(404, 10002, 'Unknown Application', 'state'),
  unknownChannel: () => new DiscordHttpError(404, 10003, 'Unknown Channel', 'state'),
  unknownGuild: () => new DiscordHttpError(404, 10004, 'Unknown Guild', 'state'),
  unknownMember: () => new DiscordHttpError(404, 10007, 'Unknown Member', 'state'),
  unknownMessage: () => new DiscordHttpError(404, 10008, 'Unknown Message', 'state'),
  unknownUser: () => new DiscordHttpError(404, 10013, 'Unknown User', 'state'),
  unknownWebhook: () => new DiscordHttpError(404, 10015, 'Unknown Webhook', 'state'),
  unknownInteraction: (kind: ViolationKind = 'timing') =>
    new DiscordHttpError(404, 10062, 'Unknown interaction', kind),
  alreadyAcknowledged: () =>
    new DiscordHttpError(400, 40060, 'Interaction has already been acknowledged.', 'state'),
  tooLarge: () => new DiscordHttpError(413, 40005, 'Request entity too large', 'limit'),
  dailyCommandCreates: (limit: number) =>
    new DiscordHttpError(
      429,
      30034,
      `Max number of daily application command creates has been reached (${limit})`,
      'limit',
      [],
      { retry_after: 3600, global: false },
    ),
  missingAccess: () => new DiscordHttpError(403, 50001, 'Missing Access', 'permission'),
  missingPermissions: () => new DiscordHttpError(403, 50013, 'Missing Permissions', 'permission'),
  notAuthor: () =>
    new DiscordHttpError(403, 50005, 'Cannot edit a message authored by another user', 'permission'),
  invalidWebhookToken: () => new DiscordHttpError(401, 50027, 'Invalid Webhook Token', 'timing'),
  threadAlreadyCreated: () =>
    new DiscordHttpError(400, 160004, 'A thread has already been created for this message', 'state'),
  threadArchived: () => new DiscordHttpError(400, 50083, 'Thread is archived', 'state'),
  invalidJson: () =>
    new DiscordHttpError(400, 50109, 'The request body contains invalid JSON.', 'schema'),
};

/** A single-field "Invalid Form Body" error. */
export function fieldError(path: FieldIssue['path'], code: string, message: string): DiscordHttpError {
  return errors.invalidFormBody([issue(path, code, message)]);
}
