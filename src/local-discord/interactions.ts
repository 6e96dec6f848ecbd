import { EventEmitter } from 'node:events';
import type { Clock } from './clock.ts';
import { errors, fieldError } from './errors.ts';
import type { EventLog } from './events.ts';
import { autocompleteLimits, modalLimits } from './limits.ts';
import { INTERACTION_FLAGS, MessageFlag, type MessageService } from './messages.ts';
import type { UploadedFile } from './multipart.ts';
import type { Renderer } from './payloads.ts';
import type { EmulatorState, JsonObject, MessageRecord } from './state.ts';

export const InteractionType = { Ping: 1, ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4, ModalSubmit: 5 } as const;
export const ACK_DEADLINE_MS = 3_000;
export const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Which callback types Discord accepts for each interaction type. */
const ALLOWED_CALLBACKS: Record<number, number[]> = {
  [InteractionType.Ping]: [1],
  [InteractionType.ApplicationCommand]: [4, 5, 9],
  [InteractionType.MessageComponent]: [4, 5, 6, 7, 9],
  [InteractionType.Autocomplete]: [8],
  [InteractionType.ModalSubmit]: [4, 5, 6, 7],
};

export interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  guildId: string;
  channelId: string;
  userId: string;
  commandName?: string;
  dispatchedAt: number;
  payload: JsonObject;
  attachmentSizeLimit: number;
  /** The message a component/modal interaction came from. */
  sourceMessageId?: string;
  /** For a modal submit: the interaction that opened the modal. */
  parent?: InteractionRecord;
  callbackType?: number;
  /** What @original refers to once acknowledged. */
  originalMessageId?: string;
  webhookMessageIds: string[];
  modal?: JsonObject;
  choices?: JsonObject[];
  /** Set once a missed 3 s deadline was reported, so it is reported only once. */
  deadlineReported?: boolean;
  /** Emits 'callback' (type), 'reply' (message), 'followup' (message). */
  readonly signals: EventEmitter;
}

export interface CallbackResult {
  status: number;
  body?: JsonObject;
}

/** Interaction lifecycle: the 3 s initial response, one acknowledgement, 15 min of webhook follow-ups. */
export class InteractionService {
  private readonly byId = new Map<string, InteractionRecord>();

  constructor(
    private readonly state: EmulatorState,
    private readonly clock: Clock,
    private readonly renderer: Renderer,
    private readonly messages: MessageService,
    private readonly events: EventLog,
  ) {}

  register(record: Omit<InteractionRecord, 'signals' | 'webhookMessageIds'>): InteractionRecord {
    const full: InteractionRecord = { ...record, webhookMessageIds: [], signals: new EventEmitter() };
    this.byId.set(full.id, full);
    return full;
  }

  get(id: string): InteractionRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * Interactions the bot never answered within 3 s (users see "This interaction failed"). Checked when
   * a test asks, so no timers run; each is returned once.
   */
  takeUnanswered(): InteractionRecord[] {
    const now = this.clock.now();
    const late = [...this.byId.values()].filter(
      (i) => i.callbackType === undefined && !i.deadlineReported && now - i.dispatchedAt > ACK_DEADLINE_MS,
    );
    for (const interaction of late) interaction.deadlineReported = true;
    return late;
  }

  callback(id: string, token: string, body: JsonObject, files: UploadedFile[], withResponse: boolean): CallbackResult {
    const interaction = this.byId.get(id);
    if (!interaction || interaction.token !== token) {
      throw errors.unknownInteraction('state').withDetail('no interaction with this id and token');
    }
    if (interaction.callbackType !== undefined) throw errors.alreadyAcknowledged();
    const elapsed = this.clock.now() - interaction.dispatchedAt;
    if (elapsed > ACK_DEADLINE_MS) {
      interaction.deadlineReported = true;
      const detail = `initial response came ${elapsed} ms after INTERACTION_CREATE (limit ${ACK_DEADLINE_MS} ms)`;
      throw errors.unknownInteraction().withDetail(detail);
    }
    const type = Number(body.type);
    if (!ALLOWED_CALLBACKS[interaction.type]?.includes(type) || ((type === 6 || type === 7) && !interaction.sourceMessageId)) {
      const message = `Callback type ${type} is not valid for interaction type ${interaction.type}`;
      throw fieldError(['type'], 'INTERACTION_CALLBACK_TYPE_INVALID', message);
    }
    const data = (body.data ?? {}) as JsonObject;
    const message = this.applyCallback(interaction, type, data, files);
    interaction.callbackType = type;
    this.events.push({ kind: 'interaction_callback', interactionId: id, callbackType: type, body });
    interaction.signals.emit('callback', type);
    if (message && (type === 4 || type === 7)) interaction.signals.emit('reply', this.renderer.message(message));
    return withResponse ? { status: 200, body: this.callbackResponse(interaction, type, message) } : { status: 204 };
  }

  private applyCallback(interaction: InteractionRecord, type: number, data: JsonObject, files: UploadedFile[]): MessageRecord | undefined {
    switch (type) {
      case 4:
      case 5:
        return this.createOriginal(interaction, type, data, files);
      case 6:
      case 7:
        interaction.originalMessageId = interaction.sourceMessageId;
        if (type === 6) return undefined;
        return this.messages.edit(this.source(interaction), data, files, interaction.attachmentSizeLimit, ['data']);
      case 8:
        return this.acceptChoices(interaction, data);
      case 9:
        return this.acceptModal(interaction, data);
      default:
        return undefined;
    }
  }

  private createOriginal(interaction: InteractionRecord, type: number, data: JsonObject, files: UploadedFile[]): MessageRecord {
    const deferred = type === 5;
    const ephemeral = (Number(data.flags ?? 0) & MessageFlag.Ephemeral) !== 0;
    const body = deferred ? { flags: (ephemeral ? MessageFlag.Ephemeral : 0) | MessageFlag.Loading } : data;
    const message = this.messages.create({
      channelId: interaction.channelId,
      authorId: this.state.botUserId,
      body,
      files: deferred ? [] : files,
      sizeLimit: interaction.attachmentSizeLimit,
      source: 'interaction',
      allowedFlags: INTERACTION_FLAGS | MessageFlag.Loading,
      base: ['data'],
      type: interaction.type === InteractionType.ApplicationCommand ? 20 : 0,
      allowEmpty: deferred,
      extra: this.webhookFields(interaction),
    });
    interaction.originalMessageId = message.id;
    return message;
  }

  private acceptChoices(interaction: InteractionRecord, data: JsonObject): undefined {
    const issues = autocompleteLimits(data);
    if (issues.length > 0) throw errors.invalidFormBody(issues, 'limit');
    interaction.choices = Array.isArray(data.choices) ? (data.choices as JsonObject[]) : [];
    return undefined;
  }

  private acceptModal(interaction: InteractionRecord, data: JsonObject): undefined {
    const issues = modalLimits(data);
    if (issues.length > 0) throw errors.invalidFormBody(issues, 'limit');
    interaction.modal = data;
    return undefined;
  }

  private callbackResponse(interaction: InteractionRecord, type: number, message: MessageRecord | undefined): JsonObject {
    const original = interaction.originalMessageId ? this.state.messages.get(interaction.originalMessageId) : undefined;
    const info: JsonObject = { id: interaction.id, type: interaction.type, activity_instance_id: null };
    if (original && (type === 4 || type === 5 || type === 7)) {
      info.response_message_id = original.id;
      info.response_message_loading = (original.flags & MessageFlag.Loading) !== 0;
      info.response_message_ephemeral = (original.flags & MessageFlag.Ephemeral) !== 0;
    }
    const resource = message && (type === 4 || type === 7) ? { type, message: this.renderer.message(message) } : undefined;
    return { interaction: info, ...(resource ? { resource } : {}) };
  }

  /** Resolves the interaction behind /webhooks/{application}/{token}, enforcing the 15 minute token life. */
  webhook(applicationId: string, token: string): InteractionRecord {
    if (applicationId !== this.state.applicationId) throw errors.unknownWebhook();
    const interaction = [...this.byId.values()].find((i) => i.token === token);
    if (!interaction) throw errors.invalidWebhookToken().withDetail('no interaction has this token');
    const age = this.clock.now() - interaction.dispatchedAt;
    if (age > TOKEN_LIFETIME_MS) {
      throw errors.invalidWebhookToken().withDetail(`interaction token used ${Math.round(age / 1000)} s after the interaction (limit 15 min)`);
    }
    if (interaction.callbackType === undefined) throw errors.unknownWebhook().withDetail('interaction was not acknowledged yet');
    return interaction;
  }

  webhookMessage(interaction: InteractionRecord, messageId: string): MessageRecord {
    const id = messageId === '@original' ? interaction.originalMessageId : messageId;
    const known = id === interaction.originalMessageId || (id !== undefined && interaction.webhookMessageIds.includes(id));
    const message = id && known ? this.state.messages.get(id) : undefined;
    if (!message) throw errors.unknownMessage();
    return message;
  }

  editWebhookMessage(interaction: InteractionRecord, messageId: string, body: JsonObject, files: UploadedFile[]): MessageRecord {
    const message = this.messages.edit(this.webhookMessage(interaction, messageId), body, files, interaction.attachmentSizeLimit);
    if (message.id === interaction.originalMessageId) interaction.signals.emit('reply', this.renderer.message(message));
    return message;
  }

  followUp(interaction: InteractionRecord, body: JsonObject, files: UploadedFile[]): MessageRecord {
    const message = this.messages.create({
      channelId: interaction.channelId,
      authorId: this.state.botUserId,
      body,
      files,
      sizeLimit: interaction.attachmentSizeLimit,
      source: 'webhook',
      allowedFlags: INTERACTION_FLAGS,
      type: 19,
      extra: this.webhookFields(interaction),
    });
    interaction.webhookMessageIds.push(message.id);
    interaction.signals.emit('followup', this.renderer.message(message));
    return message;
  }

  private source(interaction: InteractionRecord): MessageRecord {
    return this.state.message(interaction.channelId, interaction.sourceMessageId!);
  }

  /** Messages sent through an interaction are webhook messages that name the interaction. */
  private webhookFields(interaction: InteractionRecord): Partial<MessageRecord> {
    return { webhookId: this.state.applicationId, applicationId: this.state.applicationId, interactionMetadata: metadataOf(interaction) };
  }
}

/** interaction_metadata as Discord puts it on response messages (user_id is rendered to a user later). */
function metadataOf(interaction: InteractionRecord): JsonObject {
  const metadata: JsonObject = {
    id: interaction.id,
    type: interaction.type,
    user_id: interaction.userId,
    authorizing_integration_owners: { '0': interaction.guildId },
    name: interaction.commandName,
  };
  if (interaction.type === InteractionType.MessageComponent) metadata.interacted_message_id = interaction.sourceMessageId;
  if (interaction.parent) metadata.triggering_interaction_metadata = metadataOf(interaction.parent);
  return metadata;
}
