import { issue, type FieldIssue } from './errors.ts';
import type { EmulatorState, JsonObject } from './state.ts';

/** Discord's documented naming rule for commands and options (unicode letters/numbers, -_' , 1-32). */
const NAME_PATTERN = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const CHAT_INPUT = 1;
const SUBCOMMAND_TYPES = new Set([1, 2]);
const MAX_COMMANDS: Record<number, number> = { 1: 100, 2: 15, 3: 15, 4: 1 };

type Path = FieldIssue['path'];

const objects = (value: unknown): JsonObject[] =>
  Array.isArray(value) ? value.filter((v): v is JsonObject => typeof v === 'object' && v !== null) : [];

/** Checks a bulk-overwrite list: counts per type, unique names, and every command's shape. */
export function commandListIssues(commands: JsonObject[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  const perType = new Map<number, number>();
  commands.forEach((command, i) => {
    const type = Number(command.type ?? CHAT_INPUT);
    perType.set(type, (perType.get(type) ?? 0) + 1);
    const key = `${type}:${String(command.name)}`;
    if (seen.has(key)) {
      issues.push(issue([i, 'name'], 'APPLICATION_COMMANDS_DUPLICATE_NAME', 'Application command names must be unique'));
    }
    seen.add(key);
    issues.push(...commandIssues(command, type, [i]));
  });
  for (const [type, count] of perType) {
    if (count > (MAX_COMMANDS[type] ?? 100)) {
      issues.push(issue([], 'BASE_TYPE_MAX_LENGTH', `Too many commands of type ${type}: ${count}`));
    }
  }
  return issues;
}

function commandIssues(command: JsonObject, type: number, at: Path): FieldIssue[] {
  const issues = nameIssues(command.name, type === CHAT_INPUT, [...at, 'name']);
  if (type === CHAT_INPUT) issues.push(...descriptionIssues(command.description, [...at, 'description']));
  issues.push(...optionListIssues(command.options, [...at, 'options']));
  const size = characterCount(command);
  if (size > 4000) {
    issues.push(issue(at, 'APPLICATION_COMMAND_TOO_LARGE', `Command exceeds maximum size (4000), is ${size}`));
  }
  return issues;
}

function nameIssues(name: unknown, lowercase: boolean, path: Path): FieldIssue[] {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name) || (lowercase && name !== name.toLowerCase())) {
    return [{ path, code: 'APPLICATION_COMMAND_INVALID_NAME', message: `Command name is invalid: ${JSON.stringify(name)}` }];
  }
  return [];
}

function descriptionIssues(description: unknown, path: Path): FieldIssue[] {
  if (typeof description !== 'string' || description.length < 1 || description.length > 100) {
    return [{ path, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' }];
  }
  return [];
}

function optionListIssues(options: unknown, path: Path): FieldIssue[] {
  const list = objects(options);
  const issues: FieldIssue[] = [];
  if (list.length > 25) issues.push({ path, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' });
  let sawOptional = false;
  const names = new Set<string>();
  list.forEach((option, i) => {
    const at = [...path, i];
    issues.push(...nameIssues(option.name, true, [...at, 'name']), ...descriptionIssues(option.description, [...at, 'description']));
    if (names.has(String(option.name))) {
      issues.push(issue([...at, 'name'], 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS', 'Option names must be unique'));
    }
    names.add(String(option.name));
    if (option.required && sawOptional) {
      issues.push(issue([...at, 'required'], 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options'));
    }
    sawOptional ||= !option.required && !SUBCOMMAND_TYPES.has(Number(option.type));
    issues.push(...choiceIssues(option, at));
    if (SUBCOMMAND_TYPES.has(Number(option.type))) issues.push(...optionListIssues(option.options, [...at, 'options']));
  });
  return issues;
}

function choiceIssues(option: JsonObject, at: Path): FieldIssue[] {
  const choices = objects(option.choices);
  const issues: FieldIssue[] = [];
  if (choices.length > 25) {
    issues.push(issue([...at, 'choices'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.'));
  }
  if (choices.length > 0 && option.autocomplete) {
    issues.push(issue([...at, 'autocomplete'], 'APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_CHOICES', 'Autocomplete cannot be used with choices'));
  }
  choices.forEach((choice, j) => {
    if (typeof choice.name !== 'string' || choice.name.length < 1 || choice.name.length > 100) {
      issues.push(issue([...at, 'choices', j, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.'));
    }
    if (typeof choice.value === 'string' && choice.value.length > 100) {
      issues.push(issue([...at, 'choices', j, 'value'], 'BASE_TYPE_MAX_LENGTH', 'Must be 100 or fewer in length.'));
    }
  });
  return issues;
}

/** Discord counts names, descriptions and choice names/values toward a 4000-character command budget. */
function characterCount(node: JsonObject): number {
  const own = [node.name, node.description, node.value].reduce<number>((n, v) => n + (typeof v === 'string' ? v.length : 0), 0);
  return own + [...objects(node.options), ...objects(node.choices)].reduce((n, child) => n + characterCount(child), 0);
}

/** How many commands in a bulk overwrite are new to the scope (they count toward the daily create limit). */
export function newCommandCount(state: EmulatorState, scope: string, input: JsonObject[]): number {
  const previous = state.commands.get(scope) ?? [];
  return input.filter((c) => !previous.some((p) => p.name === c.name && p.type === Number(c.type ?? CHAT_INPUT))).length;
}

/** Bulk overwrite: keeps the id of a command whose name and type are unchanged, as Discord does. */
export function overwriteCommands(state: EmulatorState, scope: string, input: JsonObject[]): JsonObject[] {
  const previous = state.commands.get(scope) ?? [];
  const commands = input.map((command) => {
    const type = Number(command.type ?? CHAT_INPUT);
    const existing = previous.find((p) => p.name === command.name && p.type === type);
    return renderCommand(state, scope, command, type, existing ? String(existing.id) : state.ids.next());
  });
  state.commands.set(scope, commands);
  return commands;
}

function renderCommand(state: EmulatorState, scope: string, command: JsonObject, type: number, id: string): JsonObject {
  const permissions = command.default_member_permissions;
  return {
    id,
    application_id: state.applicationId,
    version: state.ids.next(),
    type,
    name: command.name,
    name_localizations: command.name_localizations ?? null,
    description: type === CHAT_INPUT ? command.description : '',
    description_localizations: command.description_localizations ?? null,
    default_member_permissions: permissions === undefined || permissions === null ? null : String(permissions),
    contexts: command.contexts ?? null,
    integration_types: command.integration_types ?? [0],
    nsfw: Boolean(command.nsfw),
    ...(scope === 'global' ? { dm_permission: command.dm_permission ?? true } : { guild_id: scope }),
    ...(Array.isArray(command.options) ? { options: command.options } : {}),
  };
}
