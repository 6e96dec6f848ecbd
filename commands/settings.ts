import {
  ChannelType,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { BotCommand } from '../src/bot/command.ts';
import { fitLines, listWithin } from '../src/bot/message-fit.ts';
import { postModLog } from '../src/bot/mod-log.ts';
import { consentRequired } from '../src/bot/photo-consent.ts';
import { userMessage } from '../src/bot/reply-errors.ts';
import type { BotDeps } from '../src/bot/bot-deps.ts';
import { InputError } from '../src/errors.ts';
import { MAX_CANDIDATES, MAX_COUNT } from '../src/request-options.ts';
import {
  BLOCKED_PHRASE_MAX_CHARS,
  getServerSettings,
  MAX_ALLOWED_CHANNELS,
  MAX_BLOCKED_PHRASES,
  MAX_JOBS_PER_USER,
  MAX_QUOTA,
  updateServerSettings,
  type ServerSettings,
} from '../src/store/server-settings.ts';
import { normalizeForMatch } from '../src/util/blocked-phrases.ts';
import { safeText } from '../src/util/safe-text.ts';

const NO_MENTIONS = { parse: [] as [] };
/** A list's share of a changed-settings line (the reply and the mod log hold one such line each). */
const LIST_LINE_MAX_CHARS = 800;
const LIST_ACTIONS = [
  { name: 'add', value: 'add' },
  { name: 'remove', value: 'remove' },
  { name: 'clear', value: 'clear' },
];

const data = new SlashCommandBuilder()
  .setName('settings')
  .setDescription('How the bot works in this server (Manage Server)')
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) => s.setName('show').setDescription('Show this server’s settings'))
  .addSubcommand((s) =>
    s
      .setName('limits')
      .setDescription('Image count and guidance: defaults and caps; images per member in the queue')
      .addIntegerOption((o) => o.setName('count_default').setDescription('Images per /personalize when not given').setMinValue(1).setMaxValue(MAX_COUNT))
      .addIntegerOption((o) => o.setName('count_max').setDescription('Most images per /personalize').setMinValue(1).setMaxValue(MAX_COUNT))
      .addIntegerOption((o) => o.setName('candidates_default').setDescription('Candidates drawn and ranked per /personalize when not given (1 = off)').setMinValue(1).setMaxValue(MAX_CANDIDATES))
      .addIntegerOption((o) => o.setName('candidates_max').setDescription('Most candidates per /personalize').setMinValue(1).setMaxValue(MAX_CANDIDATES))
      .addNumberOption((o) => o.setName('guidance_default').setDescription('Guidance when not given').setMinValue(1).setMaxValue(20))
      .addNumberOption((o) => o.setName('guidance_max').setDescription('Highest guidance allowed').setMinValue(1).setMaxValue(20))
      .addIntegerOption((o) => o.setName('jobs_per_user').setDescription('Images one member may have in the queue at once (0 = no server limit)').setMinValue(0).setMaxValue(MAX_JOBS_PER_USER)),
  )
  .addSubcommand((s) =>
    s
      .setName('quotas')
      .setDescription('Images per member and per server per hour and per day (0 = no limit)')
      .addIntegerOption((o) => o.setName('user_per_hour').setDescription('Per member per hour').setMinValue(0).setMaxValue(MAX_QUOTA))
      .addIntegerOption((o) => o.setName('user_per_day').setDescription('Per member per day').setMinValue(0).setMaxValue(MAX_QUOTA))
      .addIntegerOption((o) => o.setName('server_per_hour').setDescription('For the whole server per hour').setMinValue(0).setMaxValue(MAX_QUOTA))
      .addIntegerOption((o) => o.setName('server_per_day').setDescription('For the whole server per day').setMinValue(0).setMaxValue(MAX_QUOTA)),
  )
  .addSubcommand((s) =>
    s
      .setName('subjects')
      .setDescription('Sharing and deleting saved subjects; whether photos may show people')
      .addBooleanOption((o) => o.setName('members_may_share').setDescription('False: only members with Manage Server may share subjects here'))
      .addStringOption((o) =>
        o
          .setName('shared_delete')
          .setDescription('Who may delete a subject shared here')
          .addChoices({ name: 'its owner or a member with Manage Server', value: 'owner_or_manager' }, { name: 'its owner only', value: 'owner_only' }),
      )
      .addBooleanOption((o) => o.setName('people_allowed').setDescription('False: members must confirm their photos show no real person')),
  )
  .addSubcommand((s) =>
    s
      .setName('privacy')
      .setDescription('Whether the reasoning is public; whether members confirm they may use their photos')
      .addBooleanOption((o) => o.setName('trace_public').setDescription('False: only the image’s owner sees its reasoning'))
      .addBooleanOption((o) => o.setName('consent_required').setDescription('Ask each member once to confirm they have the right to use their photos'))
      .addBooleanOption((o) => o.setName('feedback').setDescription('Record picks and reactions on candidates as training data')),
  )
  .addSubcommand((s) =>
    s
      .setName('channels')
      .setDescription('Channels where /personalize may be used (none listed: everywhere)')
      .addStringOption((o) => o.setName('action').setDescription('Add or remove a channel, or clear the list').setRequired(true).addChoices(...LIST_ACTIONS))
      .addChannelOption((o) => o.setName('channel').setDescription('The channel').addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement)),
  )
  .addSubcommand((s) =>
    s
      .setName('blocklist')
      .setDescription('Words or phrases refused in prompts, names and contexts')
      .addStringOption((o) => o.setName('action').setDescription('Add or remove a phrase, or clear the list').setRequired(true).addChoices(...LIST_ACTIONS))
      .addStringOption((o) => o.setName('phrase').setDescription('A word or phrase (case and accents ignored)').setMaxLength(BLOCKED_PHRASE_MAX_CHARS)),
  )
  .addSubcommand((s) =>
    s
      .setName('upscale')
      .setDescription('The Upscale button under results: on or off, and the largest factor')
      .addBooleanOption((o) => o.setName('enabled').setDescription('False: no Upscale button in this server'))
      .addIntegerOption((o) => o.setName('max_factor').setDescription('Largest upscale (2 = at most twice the size; 0 = the model’s own)').setMinValue(0).setMaxValue(8)),
  )
  .addSubcommand((s) =>
    s
      .setName('modlog')
      .setDescription('Where settings changes are logged (leave out the channel to stop)')
      .addChannelOption((o) => o.setName('channel').setDescription('The mod-log channel').addChannelTypes(ChannelType.GuildText, ChannelType.GuildAnnouncement)),
  );

type Change = (interaction: ChatInputCommandInteraction, current: ServerSettings) => Partial<ServerSettings>;

const changes: Record<string, Change> = { limits, quotas, subjects, privacy, channels, blocklist, modlog, upscale };

/** Every answer is ephemeral; Manage Server is required by the command's default permissions and checked again here. */
async function execute(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<void> {
  if (!interaction.inGuild() || !interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
    await interaction.reply({ content: 'Only members with the **Manage Server** permission can use `/settings`.', flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS });
    return;
  }
  const sub = interaction.options.getSubcommand(true);
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  let content: string;
  try {
    content = sub === 'show' ? await show(interaction, deps) : await change(interaction, deps, sub);
  } catch (err) {
    content = userMessage(err, deps.logger, { command: 'settings', subcommand: sub });
  }
  await interaction.editReply({ content, allowedMentions: NO_MENTIONS });
}

async function show(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<string> {
  const s = await getServerSettings(deps.stores, interaction.guildId);
  const lines = [
    '**Bot settings in this server**',
    ...(Object.keys(LABELS) as (keyof typeof LABELS)[]).filter((k) => k !== 'blockedPhrases').map((k) => `${LABELS[k]}: ${describe(k, s, deps)}`),
    `${LABELS.blockedPhrases}: ${s.blockedPhrases.length === 0 ? 'none' : ''}`,
  ];
  return fitLines([...lines, ...s.blockedPhrases.map((phrase) => `• “${safeText(phrase)}”`)]);
}

async function change(interaction: ChatInputCommandInteraction, deps: BotDeps, sub: string): Promise<string> {
  const make = changes[sub];
  if (!make) throw new Error(`unknown subcommand ${sub}`);
  const { before, after } = await updateServerSettings(deps.stores, interaction.guildId!, (current) => make(interaction, current));
  const lines = diff(before, after, deps);
  if (lines.length === 0) return 'Nothing changed.';
  // Turning the mod log off is logged where it was.
  const problem = await postModLog(interaction, deps, after.modLogChannel ?? before.modLogChannel, lines);
  return fitLines(['Saved:', ...lines.map((l) => `• ${l}`), ...(problem ? [problem] : [])]);
}

// ------------------------------------------------------------------------------------------ changes

function limits(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  const o = interaction.options;
  return given({
    countDefault: o.getInteger('count_default'),
    countMax: o.getInteger('count_max'),
    candidatesDefault: o.getInteger('candidates_default'),
    candidatesMax: o.getInteger('candidates_max'),
    guidanceDefault: o.getNumber('guidance_default'),
    guidanceMax: o.getNumber('guidance_max'),
    jobsPerUser: o.getInteger('jobs_per_user'),
  });
}

function upscale(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  const o = interaction.options;
  const max = o.getInteger('max_factor');
  if (max === 1) throw new InputError('setting_invalid', 'An upscale of at most 1 is no upscale: turn it off with enabled:False instead.');
  return given({ upscale: o.getBoolean('enabled'), upscaleMax: max });
}

function quotas(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  const o = interaction.options;
  return given({
    quotaUserPerHour: o.getInteger('user_per_hour'),
    quotaUserPerDay: o.getInteger('user_per_day'),
    quotaGuildPerHour: o.getInteger('server_per_hour'),
    quotaGuildPerDay: o.getInteger('server_per_day'),
  });
}

function subjects(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  const o = interaction.options;
  return given({
    membersMayShare: o.getBoolean('members_may_share'),
    sharedDelete: o.getString('shared_delete') as ServerSettings['sharedDelete'] | null,
    peopleAllowed: o.getBoolean('people_allowed'),
  });
}

function privacy(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  const o = interaction.options;
  return given({ tracePublic: o.getBoolean('trace_public'), consentRequired: o.getBoolean('consent_required'), feedback: o.getBoolean('feedback') });
}

function channels(interaction: ChatInputCommandInteraction, current: ServerSettings): Partial<ServerSettings> {
  const action = interaction.options.getString('action', true);
  if (action === 'clear') return { channels: [] };
  const channel = interaction.options.getChannel('channel');
  if (!channel) throw new InputError('setting_missing', `Give the \`channel\` to ${action}.`);
  if (action === 'remove') {
    if (!current.channels.includes(channel.id)) throw new InputError('setting_absent', `<#${channel.id}> is not on the list.`);
    return { channels: current.channels.filter((id) => id !== channel.id) };
  }
  if (current.channels.includes(channel.id)) throw new InputError('setting_present', `<#${channel.id}> is already on the list.`);
  if (current.channels.length >= MAX_ALLOWED_CHANNELS) throw new InputError('setting_full', `The list holds at most ${MAX_ALLOWED_CHANNELS} channels.`);
  return { channels: [...current.channels, channel.id] };
}

function blocklist(interaction: ChatInputCommandInteraction, current: ServerSettings): Partial<ServerSettings> {
  const action = interaction.options.getString('action', true);
  if (action === 'clear') return { blockedPhrases: [] };
  const phrase = interaction.options.getString('phrase')?.trim();
  if (!phrase) throw new InputError('setting_missing', `Give the \`phrase\` to ${action}.`);
  const key = normalizeForMatch(phrase);
  if (!key) throw new InputError('setting_invalid', 'That phrase has no letters or digits, so it would never match.');
  const existing = current.blockedPhrases.find((p) => normalizeForMatch(p) === key);
  if (action === 'remove') {
    if (existing === undefined) throw new InputError('setting_absent', `“${safeText(phrase)}” is not on the list.`);
    return { blockedPhrases: current.blockedPhrases.filter((p) => p !== existing) };
  }
  if (existing !== undefined) throw new InputError('setting_present', `“${safeText(existing)}” is already on the list.`);
  if (current.blockedPhrases.length >= MAX_BLOCKED_PHRASES) throw new InputError('setting_full', `The list holds at most ${MAX_BLOCKED_PHRASES} phrases.`);
  return { blockedPhrases: [...current.blockedPhrases, phrase] };
}

function modlog(interaction: ChatInputCommandInteraction): Partial<ServerSettings> {
  return { modLogChannel: interaction.options.getChannel('channel')?.id ?? null };
}

/** The options the admin gave (null: left out, unchanged); none at all is a mistake worth saying. */
function given(values: { [K in keyof ServerSettings]?: ServerSettings[K] | null }): Partial<ServerSettings> {
  const out = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== undefined)) as Partial<ServerSettings>;
  if (Object.keys(out).length === 0) throw new InputError('setting_missing', 'Give at least one option to change. `/settings show` lists the current values.');
  return out;
}

// ------------------------------------------------------------------------------------------ wording

const LABELS = {
  channels: 'Channels for /personalize',
  countDefault: 'Default image count',
  countMax: 'Most images at once',
  candidatesDefault: 'Default candidates',
  candidatesMax: 'Most candidates',
  guidanceDefault: 'Default guidance',
  guidanceMax: 'Highest guidance',
  jobsPerUser: 'Images per member in the queue',
  quotaUserPerHour: 'Images per member per hour',
  quotaUserPerDay: 'Images per member per day',
  quotaGuildPerHour: 'Images for the server per hour',
  quotaGuildPerDay: 'Images for the server per day',
  membersMayShare: 'Members may share subjects',
  sharedDelete: 'Shared subjects may be deleted by',
  peopleAllowed: 'Photos may show people',
  tracePublic: 'Reasoning is public',
  consentRequired: 'Members confirm they may use their photos',
  feedback: 'Picks and reactions recorded as training data',
  upscale: 'Upscale button',
  upscaleMax: 'Largest upscale',
  modLogChannel: 'Mod log',
  blockedPhrases: 'Blocked phrases',
} satisfies Partial<Record<keyof ServerSettings, string>>;

function describe(key: keyof typeof LABELS, s: ServerSettings, deps: BotDeps): string {
  const value = s[key];
  switch (key) {
    case 'channels':
      return s.channels.length ? s.channels.map((id) => `<#${id}>`).join(', ') : 'everywhere';
    case 'modLogChannel':
      return s.modLogChannel ? `<#${s.modLogChannel}>` : 'off';
    case 'sharedDelete':
      return s.sharedDelete === 'owner_only' ? 'its owner only' : 'its owner or a member with Manage Server';
    case 'consentRequired':
      return s.consentRequired === undefined ? `${yesNo(consentRequired(deps, s))} (the bot’s default)` : yesNo(s.consentRequired);
    case 'blockedPhrases':
      return `${s.blockedPhrases.length}`;
    case 'upscale':
      return deps.upscale ? yesNo(s.upscale) : `${yesNo(s.upscale)} (no upscaler on this bot)`;
    case 'upscaleMax':
      return s.upscaleMax === 0 ? `the model’s own${deps.upscale ? ` (×${deps.upscale.scale})` : ''}` : `×${s.upscaleMax}`;
    case 'jobsPerUser':
    case 'quotaUserPerHour':
    case 'quotaUserPerDay':
    case 'quotaGuildPerHour':
    case 'quotaGuildPerDay':
      return value === 0 ? 'no limit' : String(value);
    default:
      return typeof value === 'boolean' ? yesNo(value) : String(value);
  }
}

/** One line per changed setting: "Most images at once: 4 → 2"; list changes say what was added or removed. */
function diff(before: ServerSettings, after: ServerSettings, deps: BotDeps): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(LABELS) as (keyof typeof LABELS)[]) {
    if (JSON.stringify(before[key]) === JSON.stringify(after[key])) continue;
    if (key === 'blockedPhrases' || key === 'channels') {
      const was = before[key] as string[];
      const now = after[key] as string[];
      const show = (v: string) => (key === 'channels' ? `<#${v}>` : `“${safeText(v)}”`);
      const added = now.filter((v) => !was.includes(v)).map(show);
      const removed = was.filter((v) => !now.includes(v)).map(show);
      const parts = [added.length ? `added ${listWithin(added, LIST_LINE_MAX_CHARS)}` : '', removed.length ? `removed ${listWithin(removed, LIST_LINE_MAX_CHARS)}` : ''].filter(Boolean);
      lines.push(`${LABELS[key]}: ${parts.join('; ')}${now.length === 0 ? ' (list now empty)' : ''}`);
      continue;
    }
    lines.push(`${LABELS[key]}: ${describe(key, before, deps)} → ${describe(key, after, deps)}`);
  }
  return lines;
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

export const settings: BotCommand = { data, execute };
