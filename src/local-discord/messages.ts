import { errors, issue, type FieldIssue } from './errors.ts';
import type { EventLog } from './events.ts';
import type { Gateway } from './gateway.ts';
import { isEmptyMessage, messageLimits } from './limits.ts';
import type { UploadedFile } from './multipart.ts';
import type { Renderer } from './payloads.ts';
import type { EmulatorState, JsonObject, MessageRecord } from './state.ts';
import { planAttachments, storeUploads } from './uploads.ts';

export const MessageFlag = {
  SuppressEmbeds: 1 << 2,
  Ephemeral: 1 << 6,
  Loading: 1 << 7,
  SuppressNotifications: 1 << 12,
  VoiceMessage: 1 << 13,
  ComponentsV2: 1 << 15,
} as const;
/** Flags a bot may set when posting in a channel; interaction responses may also set Ephemeral. */
export const CHANNEL_FLAGS =
  MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.VoiceMessage | MessageFlag.ComponentsV2;
export const INTERACTION_FLAGS = CHANNEL_FLAGS | MessageFlag.Ephemeral;
const EDITABLE_FLAGS = MessageFlag.SuppressEmbeds | MessageFlag.ComponentsV2;

export interface CreateMessageInput {
  channelId: string;
  authorId: string;
  body: JsonObject;
  files: UploadedFile[];
  sizeLimit: number;
  source: 'bot' | 'interaction' | 'webhook' | 'user';
  allowedFlags: number;
  /** Body field paths are reported under this prefix (e.g. ["data"] for interaction callbacks). */
  base?: FieldIssue['path'];
  type?: number;
  extra?: Partial<MessageRecord>;
  /** Deferred responses start empty, so the empty-message rule does not apply. */
  allowEmpty?: boolean;
}

/** Creates, edits and deletes messages, keeping state, gateway dispatches and the test event log in step. */
export class MessageService {
  constructor(
    private readonly state: EmulatorState,
    private readonly renderer: Renderer,
    private readonly gateway: Gateway,
    private readonly events: EventLog,
  ) {}

  create(input: CreateMessageInput): MessageRecord {
    const base = input.base ?? [];
    this.validate(input.body, input.files.length, input.allowedFlags, base);
    if (!input.allowEmpty && isEmptyMessage(input.body, input.files.length)) throw errors.emptyMessage();
    const plan = planAttachments(input.body, input.files, [], input.sizeLimit, base);
    const reference = this.reference(input.body, input.channelId, base);
    const channel = this.state.channel(input.channelId);
    const message: MessageRecord = {
      id: this.state.ids.next(),
      channelId: channel.id,
      guildId: channel.guildId,
      authorId: input.authorId,
      type: input.type ?? (reference ? 19 : 0),
      content: typeof input.body.content === 'string' ? input.body.content : '',
      embeds: asObjects(input.body.embeds),
      components: numberComponents(asObjects(input.body.components)),
      attachmentIds: storeUploads(this.state, channel.id, plan),
      flags: typeof input.body.flags === 'number' ? input.body.flags : 0,
      timestamp: this.state.isoNow(),
      editedTimestamp: null,
      tts: input.body.tts === true,
      mentionUserIds: this.mentions(input.body.content),
      ...(reference ? { messageReference: reference } : {}),
      ...input.extra,
    };
    this.state.storeMessage(message);
    this.announceCreate(message, input.source);
    return message;
  }

  /**
   * PATCH semantics: only given fields change; `attachments`, when given, is the full list to keep.
   * An edit that would leave the message with nothing to show is refused like an empty create.
   */
  edit(message: MessageRecord, body: JsonObject, files: UploadedFile[], sizeLimit: number, base: FieldIssue['path'] = []): MessageRecord {
    this.validate(body, files.length, EDITABLE_FLAGS | (message.flags & MessageFlag.Ephemeral), base);
    const plan = planAttachments(body, files, message.attachmentIds, sizeLimit, base);
    const has = (key: string) => key in body;
    const content = has('content') ? (typeof body.content === 'string' ? body.content : '') : message.content;
    const embeds = has('embeds') ? asObjects(body.embeds) : message.embeds;
    const components = has('components') ? numberComponents(asObjects(body.components)) : message.components;
    if (!content && embeds.length === 0 && components.length === 0 && plan.keep.length + plan.add.length === 0) {
      throw errors.emptyMessage();
    }
    const wasLoading = (message.flags & MessageFlag.Loading) !== 0;
    Object.assign(message, { content, embeds, components, mentionUserIds: this.mentions(content) });
    if (typeof body.flags === 'number') message.flags = (message.flags & ~EDITABLE_FLAGS) | (body.flags & EDITABLE_FLAGS);
    message.flags &= ~MessageFlag.Loading;
    message.attachmentIds = [...plan.keep, ...storeUploads(this.state, message.channelId, plan)];
    if (!wasLoading) message.editedTimestamp = this.state.isoNow();
    this.announceUpdate(message);
    return message;
  }

  delete(message: MessageRecord): void {
    this.state.messages.delete(message.id);
    if (!(message.flags & MessageFlag.Ephemeral)) {
      this.gateway.dispatch('MESSAGE_DELETE', { id: message.id, channel_id: message.channelId, guild_id: message.guildId });
    }
    this.events.push({ kind: 'message_delete', channelId: message.channelId, messageId: message.id });
  }

  /** Re-sends a message that changed outside edit(), e.g. when a thread was started from it. */
  announceUpdate(message: MessageRecord): void {
    const rendered = this.renderer.message(message);
    if (!(message.flags & MessageFlag.Ephemeral)) this.gateway.dispatch('MESSAGE_UPDATE', this.forGateway(message, rendered));
    this.events.push({ kind: 'message_update', channelId: message.channelId, message: rendered });
  }

  private announceCreate(message: MessageRecord, source: CreateMessageInput['source']): void {
    const rendered = this.renderer.message(message);
    if (!(message.flags & MessageFlag.Ephemeral)) this.gateway.dispatch('MESSAGE_CREATE', this.forGateway(message, rendered));
    this.events.push({ kind: 'message_create', channelId: message.channelId, message: rendered, source });
  }

  /** Gateway messages also carry guild_id and, for member authors, a partial member. */
  private forGateway(message: MessageRecord, rendered: JsonObject): JsonObject {
    const out: JsonObject = { ...rendered, guild_id: message.guildId };
    const member = message.webhookId ? undefined : this.state.guilds.get(message.guildId)?.members.get(message.authorId);
    if (member) {
      const { user: _user, ...partial } = this.renderer.member(member);
      out.member = partial;
    }
    return out;
  }

  private validate(body: JsonObject, fileCount: number, allowedFlags: number, base: FieldIssue['path']): void {
    const issues = messageLimits(body, fileCount, base);
    if (typeof body.flags === 'number' && (body.flags & ~allowedFlags) !== 0) {
      issues.push(issue([...base, 'flags'], 'MESSAGE_FLAGS_INVALID', `Flags ${body.flags & ~allowedFlags} cannot be set here`));
    }
    if (issues.length > 0) throw errors.invalidFormBody(issues, 'limit');
  }

  private reference(body: JsonObject, channelId: string, base: FieldIssue['path']): MessageRecord['messageReference'] {
    const ref = body.message_reference as JsonObject | undefined | null;
    if (!ref?.message_id) return undefined;
    const target = this.state.messages.get(String(ref.message_id));
    if (!target || target.channelId !== String(ref.channel_id ?? channelId)) {
      if (ref.fail_if_not_exists === false) return undefined;
      throw errors.invalidFormBody([issue([...base, 'message_reference'], 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message')], 'state');
    }
    return { message_id: target.id, channel_id: target.channelId, guild_id: target.guildId };
  }

  private mentions(content: unknown): string[] {
    if (typeof content !== 'string') return [];
    const ids = [...content.matchAll(/<@!?(\d+)>/g)].map((m) => m[1]);
    return [...new Set(ids)].filter((id) => this.state.users.has(id));
  }
}

function asObjects(value: unknown): JsonObject[] {
  return Array.isArray(value) ? (value.filter((v) => typeof v === 'object' && v !== null) as JsonObject[]) : [];
}

/** String, user, role, mentionable and channel selects: Discord's responses always carry their min and max values. */
const SELECT_TYPES = [3, 5, 6, 7, 8];

/** Discord gives every component a numeric id (depth-first, starting at 1) when the payload has none; selects get their default min/max. */
function numberComponents(components: JsonObject[]): JsonObject[] {
  let next = 1;
  const visit = (component: JsonObject): JsonObject => {
    const id = typeof component.id === 'number' ? component.id : next;
    next = Math.max(next, id) + 1;
    const out: JsonObject = { ...component, id };
    if (SELECT_TYPES.includes(Number(component.type))) Object.assign(out, { min_values: component.min_values ?? 1, max_values: component.max_values ?? 1 });
    if (Array.isArray(component.components)) out.components = asObjects(component.components).map(visit);
    if (component.accessory && typeof component.accessory === 'object') out.accessory = visit(component.accessory as JsonObject);
    return out;
  };
  return components.map(visit);
}
