import { randomBytes } from 'node:crypto';
import type { Renderer } from './payloads.ts';
import type { EmulatorState, FileRecord, JsonObject } from './state.ts';

/** Where and by whom an interaction happens. */
export interface InteractionContext {
  guildId: string;
  channelId: string;
  userId: string;
}

/** Option values a test passes: plain values, or an attachment from `uploadAttachment`. */
export type OptionValue = string | number | boolean | { id: string; filename: string };

/** data.resolved: users, members, channels, attachments... by id. */
type Resolved = Record<string, Record<string, JsonObject>>;

const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Channel: 7,
  Role: 8,
  Mentionable: 9,
  Number: 10,
  Attachment: 11,
} as const;

/** Builds INTERACTION_CREATE payloads with every field a real one has. */
export class InteractionPayloads {
  constructor(
    private readonly state: EmulatorState,
    private readonly renderer: Renderer,
  ) {}

  newToken(): string {
    return `aW50ZXJhY3Rpb24${randomBytes(48).toString('base64url')}`;
  }

  base(ctx: InteractionContext, type: number, id: string, token: string): JsonObject {
    const guild = this.state.guild(ctx.guildId);
    const channel = this.state.channel(ctx.channelId);
    return {
      id,
      application_id: this.state.applicationId,
      type,
      token,
      version: 1,
      guild_id: guild.id,
      guild: { id: guild.id, locale: 'en-US', features: [] },
      guild_locale: 'en-US',
      channel_id: channel.id,
      channel: { ...this.renderer.channel(channel), permissions: this.state.permissions(guild.id, ctx.userId).toString() },
      member: this.renderer.interactionMember(guild.id, ctx.userId),
      locale: 'en-US',
      app_permissions: this.state.permissions(guild.id, this.state.botUserId).toString(),
      entitlements: [],
      authorizing_integration_owners: { '0': guild.id },
      context: 0,
      attachment_size_limit: guild.attachmentSizeLimit,
    };
  }

  /** data for a chat-input command; `path` holds [subcommandGroup?, subcommand?]. */
  commandData(
    ctx: InteractionContext,
    command: JsonObject | undefined,
    name: string,
    path: string[],
    values: Record<string, OptionValue>,
    focused?: string,
  ): JsonObject {
    const definitions = optionDefinitions(command, path);
    const resolved: Resolved = {};
    let options = Object.entries(values).map(([optionName, value]) => {
      const definition = definitions?.find((d) => d.name === optionName);
      if (definitions && !definition) throw new Error(`Command /${name} has no option "${optionName}"`);
      const type = Number(definition?.type ?? inferType(value));
      const choices = definition?.choices as JsonObject[] | undefined;
      if (choices && focused !== optionName && !choices.some((c) => c.value === value)) {
        throw new Error(`Option "${optionName}" of /${name} only accepts its choices, not ${JSON.stringify(value)}`);
      }
      return this.option(ctx, optionName, type, value, resolved, focused === optionName);
    });
    // While typing (autocomplete), required options may still be empty.
    for (const required of focused ? [] : (definitions?.filter((d) => d.required) ?? [])) {
      if (!(String(required.name) in values)) throw new Error(`Command /${name} needs option "${String(required.name)}"`);
    }
    const levelTypes = path.length === 2 ? [OptionType.SubcommandGroup, OptionType.Subcommand] : [OptionType.Subcommand];
    for (let i = path.length - 1; i >= 0; i--) options = [{ type: levelTypes[i], name: path[i], options }];
    return {
      id: String(command?.id ?? this.state.ids.next()),
      name,
      type: 1,
      guild_id: ctx.guildId,
      options,
      ...(Object.keys(resolved).length > 0 ? { resolved } : {}),
    };
  }

  private option(ctx: InteractionContext, name: string, type: number, value: OptionValue, resolved: Resolved, focused: boolean): JsonObject {
    if (focused) return { name, type, value: String(value), focused: true };
    if (type === OptionType.Attachment) {
      const file = this.attachmentFile(value);
      (resolved.attachments ??= {})[file.id] = this.renderer.attachment(file);
      return { name, type, value: file.id };
    }
    if (type === OptionType.User) {
      const id = String(value);
      (resolved.users ??= {})[id] = this.renderer.user(this.state.user(id));
      const member = this.state.guild(ctx.guildId).members.get(id);
      if (member) (resolved.members ??= {})[id] = this.renderer.interactionMember(ctx.guildId, id);
      return { name, type, value: id };
    }
    if (type === OptionType.Channel) {
      const id = String(value);
      const permissions = this.state.permissions(ctx.guildId, ctx.userId).toString();
      (resolved.channels ??= {})[id] = { ...this.renderer.channel(this.state.channel(id)), permissions };
      return { name, type, value: id };
    }
    return { name, type, value };
  }

  /** Slash-command and modal uploads refer to files made by `uploadAttachment`. */
  attachmentFile(value: OptionValue): FileRecord {
    const id = typeof value === 'object' ? value.id : String(value);
    const file = this.state.files.get(id);
    if (!file) throw new Error(`No uploaded attachment ${id}; use emulator.uploadAttachment() first`);
    return file;
  }

  componentData(customId: string, componentType: number, values?: string[]): JsonObject {
    return { custom_id: customId, component_type: componentType, ...(values ? { values } : {}) };
  }
}

function inferType(value: OptionValue): number {
  if (typeof value === 'object') return OptionType.Attachment;
  if (typeof value === 'boolean') return OptionType.Boolean;
  if (typeof value === 'number') return Number.isInteger(value) ? OptionType.Integer : OptionType.Number;
  return OptionType.String;
}

/** The option list at the given subcommand path, or undefined when the command is not registered. */
function optionDefinitions(command: JsonObject | undefined, path: string[]): JsonObject[] | undefined {
  if (!command) return undefined;
  let options = (command.options as JsonObject[] | undefined) ?? [];
  for (const level of path) {
    const next = options.find((o) => o.name === level);
    if (!next) throw new Error(`Command /${String(command.name)} has no subcommand "${level}"`);
    options = (next.options as JsonObject[] | undefined) ?? [];
  }
  return options;
}
