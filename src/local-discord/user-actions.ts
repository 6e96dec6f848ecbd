import type { APIAttachment, APIMessage } from 'discord.js';
import type { EmulatorCore } from './core.ts';
import { InteractionHandle, type AutocompleteChoice } from './interaction-handle.ts';
import type { InteractionContext, InteractionPayloads, OptionValue } from './interaction-payloads.ts';
import { InteractionType, type InteractionRecord } from './interactions.ts';
import { fillModal, type ModalValue } from './modal-submit.ts';
import { maySeeCommand } from './permissions.ts';
import type { JsonObject } from './state.ts';

/**
 * Users acting in the emulated Discord, as its client lets them: slash commands and autocomplete (only
 * commands they may see), components the message carries, modals the bot opened for them, messages.
 * Each interaction goes out as INTERACTION_CREATE to the connected bot.
 */

export interface SlashCommandInput extends InteractionContext {
  name: string;
  options?: Record<string, OptionValue>;
  subcommand?: string;
  subcommandGroup?: string;
}

export interface AutocompleteInput extends SlashCommandInput {
  /** The option being typed; its value in `options` is the partial text. */
  focused: string;
}

/** What an interaction may carry besides its context: the command, the clicked message, the modal opener. */
interface DispatchExtras {
  commandName?: string;
  sourceMessageId?: string;
  message?: JsonObject;
  parent?: InteractionRecord;
}

const json = <T>(value: JsonObject): T => value as unknown as T;

export class UserActions {
  constructor(
    private readonly core: EmulatorCore,
    private readonly payloads: InteractionPayloads,
  ) {}

  runSlashCommand(input: SlashCommandInput): InteractionHandle {
    const command = this.findCommand(input.guildId, input.name);
    this.assertMayUse(command, input);
    const data = this.payloads.commandData(input, command, input.name, this.subcommandPath(input), input.options ?? {});
    return this.dispatchInteraction(input, InteractionType.ApplicationCommand, data, { commandName: input.name });
  }

  /** Sends an autocomplete interaction and resolves with the bot's choices. */
  async autocomplete(input: AutocompleteInput, timeoutMs = 5000): Promise<AutocompleteChoice[]> {
    const command = this.findCommand(input.guildId, input.name);
    const data = this.payloads.commandData(input, command, input.name, this.subcommandPath(input), input.options ?? {}, input.focused);
    return this.dispatchInteraction(input, InteractionType.Autocomplete, data, { commandName: input.name }).waitForChoices(timeoutMs);
  }

  clickButton(messageId: string, customId: string, userId: string): InteractionHandle {
    return this.useComponent(messageId, customId, userId, 2);
  }

  selectMenu(messageId: string, customId: string, userId: string, values: string[]): InteractionHandle {
    return this.useComponent(messageId, customId, userId, 3, values);
  }

  /**
   * A component interaction from `messageId` with any custom id, carried by the message or not: a
   * forged payload Discord would never send, for testing that the bot checks what it is given.
   */
  forgeComponent(messageId: string, customId: string, userId: string, componentType: 2 | 3 = 2, values?: string[]): InteractionHandle {
    const message = this.core.state.messages.get(messageId);
    if (!message) throw new Error(`No message ${messageId}`);
    const ctx = { guildId: message.guildId, channelId: message.channelId, userId };
    return this.dispatchInteraction(ctx, InteractionType.MessageComponent, this.payloads.componentData(customId, componentType, values), {
      sourceMessageId: message.id,
      message: this.core.renderer.message(message),
    });
  }

  /** Submits the modal the bot opened in answer to `opened`. */
  async submitModal(opened: InteractionHandle, values: Record<string, ModalValue>, userId = opened.record.userId): Promise<InteractionHandle> {
    // Discord shows a modal only to the member whose interaction opened it.
    if (userId !== opened.record.userId) throw new Error('this modal was opened by another member; only they can submit it');
    const modal = await opened.waitForModal();
    const { components, attachmentIds } = fillModal(modal, values);
    const ctx = { guildId: opened.record.guildId, channelId: opened.record.channelId, userId };
    const attachments = Object.fromEntries(attachmentIds.map((id) => {
      const file = this.payloads.attachmentFile(id);
      if (file.bytes.length > this.core.state.guild(ctx.guildId).attachmentSizeLimit) throw new Error(`${file.filename} is over the upload limit`);
      return [id, this.core.renderer.attachment(file)];
    }));
    const data = { custom_id: modal.custom_id, components, ...(attachmentIds.length > 0 ? { resolved: { attachments } } : {}) };
    const source = opened.record.sourceMessageId ? this.core.state.messages.get(opened.record.sourceMessageId) : undefined;
    return this.dispatchInteraction(ctx, InteractionType.ModalSubmit, data, {
      commandName: opened.record.commandName,
      parent: opened.record,
      ...(source ? { sourceMessageId: source.id, message: this.core.renderer.message(source) } : {}),
    });
  }

  /** A user posts in a channel or thread; attachments come from `uploadAttachment`. */
  postMessage(channelId: string, userId: string, content: string, attachments: APIAttachment[] = []): APIMessage {
    const channel = this.core.state.channel(channelId);
    this.core.state.member(channel.guildId, userId);
    channel.thread?.memberIds.add(userId);
    const files = attachments.map((a, index) => {
      const file = this.core.state.files.get(a.id);
      if (!file) throw new Error(`Unknown attachment ${a.id}`);
      return { index, field: `files[${index}]`, filename: file.filename, declaredType: file.contentType, bytes: file.bytes };
    });
    const message = this.core.messages.create({
      channelId, authorId: userId, body: { content }, files, source: 'user',
      sizeLimit: this.core.state.guild(channel.guildId).attachmentSizeLimit, allowedFlags: 0,
    });
    return json<APIMessage>(this.core.renderer.message(message));
  }

  private subcommandPath(input: SlashCommandInput): string[] {
    return [input.subcommandGroup, input.subcommand].filter((p): p is string => Boolean(p));
  }

  /** A registered command by name; when commands were registered, an unknown one cannot be invoked. */
  private findCommand(guildId: string, name: string): JsonObject | undefined {
    const registered = [...(this.core.state.commands.get(guildId) ?? []), ...(this.core.state.commands.get('global') ?? [])];
    const command = registered.find((c) => c.name === name && c.type === 1);
    if (!command && registered.length > 0) throw new Error(`/${name} is not a registered command`);
    return command;
  }

  /** Discord hides commands whose default_member_permissions the user lacks. */
  private assertMayUse(command: JsonObject | undefined, ctx: InteractionContext): void {
    const needed = command?.default_member_permissions;
    if (!maySeeCommand(this.core.state.permissions(ctx.guildId, ctx.userId), needed)) {
      throw new Error(`User ${ctx.userId} cannot see /${String(command!.name)} (needs permissions ${String(needed)})`);
    }
  }

  private useComponent(messageId: string, customId: string, userId: string, componentType: number, values?: string[]): InteractionHandle {
    const message = this.core.state.messages.get(messageId);
    if (!message) throw new Error(`No message ${messageId}`);
    const component = findComponent(message.components, customId);
    if (!component || component.type !== componentType) throw new Error(`Message ${messageId} has no component ${customId} of type ${componentType}`);
    if (component.disabled) throw new Error(`Component ${customId} is disabled`);
    const offered = ((component.options as JsonObject[] | undefined) ?? []).map((o) => o.value);
    if (componentType === 3 && values?.some((v) => !offered.includes(v))) throw new Error(`Select ${customId} offers no such value: ${values.join(', ')}`);
    const ctx = { guildId: message.guildId, channelId: message.channelId, userId };
    const data = this.payloads.componentData(customId, componentType, values);
    return this.dispatchInteraction(ctx, InteractionType.MessageComponent, data, {
      sourceMessageId: message.id,
      message: this.core.renderer.message(message),
    });
  }

  private dispatchInteraction(ctx: InteractionContext, type: number, data: JsonObject, extra: DispatchExtras): InteractionHandle {
    if (this.core.gateway.connectedSessions() === 0) throw new Error('No bot is connected to the emulated gateway');
    const id = this.core.state.ids.next();
    const token = this.payloads.newToken();
    const payload = { ...this.payloads.base(ctx, type, id, token), data, ...(extra.message ? { message: extra.message } : {}) };
    const record = this.core.interactions.register({
      id, token, type, ...ctx,
      commandName: extra.commandName,
      sourceMessageId: extra.sourceMessageId,
      parent: extra.parent,
      dispatchedAt: this.core.clock.now(),
      payload,
      attachmentSizeLimit: this.core.state.guild(ctx.guildId).attachmentSizeLimit,
    });
    const handle = new InteractionHandle(record);
    this.core.gateway.dispatch('INTERACTION_CREATE', payload);
    return handle;
  }
}

function findComponent(components: JsonObject[], customId: string): JsonObject | undefined {
  for (const component of components) {
    if (component.custom_id === customId) return component;
    const children = Array.isArray(component.components) ? (component.components as JsonObject[]) : [];
    const accessory = component.accessory ? [component.accessory as JsonObject] : [];
    const found = findComponent([...children, ...accessory], customId);
    if (found) return found;
  }
  return undefined;
}
