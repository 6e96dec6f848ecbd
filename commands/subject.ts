import {
  AttachmentBuilder,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type Attachment,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type InteractionEditReplyOptions,
  type SlashCommandStringOption,
} from 'discord.js';
import { downloadAttachment } from '../src/bot/attachment-downloader.ts';
import type { BotCommand } from '../src/bot/command.ts';
import { fitLines, MESSAGE_MAX_CHARS } from '../src/bot/message-fit.ts';
import { postModLog } from '../src/bot/mod-log.ts';
import { confirmPhotoUse } from '../src/bot/photo-confirmations.ts';
import { userMessage } from '../src/bot/reply-errors.ts';
import { assertNotBlocked } from '../src/bot/server-rules.ts';
import { safeText } from '../src/util/safe-text.ts';
import type { BotDeps } from '../src/bot/bot-deps.ts';
import { InputError, UserFacingError } from '../src/errors.ts';
import { SUBJECT_CONTEXT_MAX_CHARS, SUBJECT_MAX_PHOTOS, SUBJECT_NAME_MAX_CHARS, type Subject } from '../src/store/index.ts';
import { getServerSettings } from '../src/store/server-settings.ts';

const IMAGE_OPTIONS = ['image1', 'image2', 'image3', 'image4'] as const;
const NO_MENTIONS = { parse: [] as [] };
/** What an autocomplete choice sends: a subject id (see src/store/ids.ts newId). */
const AUTOCOMPLETE_ID = /^[A-Za-z0-9_-]{12}$/;
/** How long forget-me waits for the user's cancelled, still-running jobs to wind down. */
const WIND_DOWN_MS = 10_000;

const nameOption = (o: SlashCommandStringOption) =>
  o.setName('name').setDescription('The subject').setRequired(true).setAutocomplete(true).setMaxLength(100);

const data = new SlashCommandBuilder()
  .setName('subject')
  .setDescription('Your saved subjects: save, list, share, delete')
  .addSubcommand((s) => {
    s.setName('save')
      .setDescription('Save a subject from photos')
      .addStringOption((o) => o.setName('name').setDescription('What you call it').setRequired(true).setMaxLength(SUBJECT_NAME_MAX_CHARS))
      .addAttachmentOption((o) => o.setName('image1').setDescription('A photo of it').setRequired(true));
    for (const name of IMAGE_OPTIONS.slice(1)) s.addAttachmentOption((o) => o.setName(name).setDescription('Another photo'));
    return s.addStringOption((o) => o.setName('context').setDescription('Anything else about it').setMaxLength(SUBJECT_CONTEXT_MAX_CHARS));
  })
  .addSubcommand((s) => s.setName('list').setDescription('Your subjects and those shared here'))
  .addSubcommand((s) => s.setName('show').setDescription('A subject and its photos').addStringOption(nameOption))
  .addSubcommand((s) =>
    s
      .setName('rename')
      .setDescription('Rename a subject')
      .addStringOption(nameOption)
      .addStringOption((o) => o.setName('new_name').setDescription('The new name').setRequired(true).setMaxLength(SUBJECT_NAME_MAX_CHARS)),
  )
  .addSubcommand((s) =>
    s
      .setName('context')
      .setDescription('Set or clear what else defines a subject')
      .addStringOption(nameOption)
      .addStringOption((o) => o.setName('text').setDescription('Leave out to clear').setMaxLength(SUBJECT_CONTEXT_MAX_CHARS)),
  )
  .addSubcommand((s) => s.setName('share').setDescription('Let everyone in this server use it').addStringOption(nameOption))
  .addSubcommand((s) => s.setName('unshare').setDescription('Stop sharing it').addStringOption(nameOption))
  .addSubcommand((s) => s.setName('delete').setDescription('Delete a subject and its photos').addStringOption(nameOption))
  .addSubcommand((s) =>
    s
      .setName('forget-me')
      .setDescription('Delete everything the bot keeps about you')
      .addBooleanOption((o) => o.setName('confirm').setDescription('True to delete now; False to see what would go').setRequired(true)),
  );

type Answer = Pick<InteractionEditReplyOptions, 'content' | 'files'>;
type Handler = (interaction: ChatInputCommandInteraction, deps: BotDeps) => Promise<Answer>;

const handlers: Record<string, Handler> = {
  save,
  list,
  show,
  rename,
  context: setContext,
  share,
  unshare,
  delete: remove,
  'forget-me': forgetMe,
};

/** Every answer is ephemeral (it is about the user's own data) and never pings anyone. */
async function execute(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<void> {
  const sub = interaction.options.getSubcommand(true);
  const handler = handlers[sub];
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  let answer: Answer;
  try {
    if (!handler) throw new Error(`unknown subcommand ${sub}`);
    answer = await handler(interaction, deps);
  } catch (err) {
    if (err instanceof Unanswered) return; // the confirmation message already says what happened
    answer = { content: userMessage(err, deps.logger, { command: 'subject', subcommand: sub }), files: [] };
  }
  await interaction.editReply({ ...answer, components: [], allowedMentions: NO_MENTIONS });
}

// ----------------------------------------------------------------------------------------- handlers

async function save(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const o = interaction.options;
  const { config } = deps;
  deps.textRules.check({ name: o.getString('name', true), context: o.getString('context') }, { required: ['name'] });
  const settings = await getServerSettings(deps.stores, interaction.guildId);
  assertNotBlocked(settings, [o.getString('name', true), o.getString('context')]);
  const attachments = IMAGE_OPTIONS.map((n) => o.getAttachment(n)).filter((a): a is Attachment => a !== null);
  const most = Math.min(config.maxSubjectPhotos, SUBJECT_MAX_PHOTOS);
  if (attachments.length > most) throw new InputError('too_many', `A subject can have at most ${plural(most, 'photo')}.`);
  const confirmation = await confirmPhotoUse(interaction, deps, settings);
  if (!confirmation) throw new Unanswered();
  if (confirmation.asked) await confirmation.click.deferUpdate();
  // Downloaded at once (the links expire); nothing is stored unless every photo is good.
  const photos = [];
  for (const a of attachments) {
    const bytes = await downloadAttachment({ url: a.url, name: a.name, size: a.size }, { allowedHosts: deps.attachmentHosts, maxBytes: config.maxPhotoBytes });
    photos.push({ bytes, name: a.name });
  }
  const subject = await deps.stores.subjects.save({
    ownerId: interaction.user.id,
    guildId: interaction.guildId,
    name: o.getString('name', true),
    photos,
    context: o.getString('context') ?? undefined,
  });
  const kept = subject.photoHashes.length;
  const dupes = attachments.length - kept;
  const lines = [
    `Saved ${quote(subject.name)} with ${plural(kept, 'photo')}${dupes > 0 ? ` (${plural(dupes, 'duplicate')} left out)` : ''}.`,
    `Pick it in the \`subject\` option of \`/personalize\`. Only you can use it${interaction.inGuild() ? ' until you `/subject share` it here' : ''}.`,
  ];
  return { content: lines.join('\n') };
}

async function list(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const userId = interaction.user.id;
  const guildId = interaction.guildId;
  const subjects = await deps.stores.subjects.list(userId, guildId);
  const own = subjects.filter((s) => s.ownerId === userId);
  const others = subjects.filter((s) => s.ownerId !== userId);
  if (subjects.length === 0) {
    return { content: 'You have no saved subjects yet. Save one with `/subject save`, or with **Save subject** under an image.' };
  }
  const lines: string[] = [];
  if (own.length) {
    lines.push(`**Your subjects** (${own.length} of ${deps.stores.subjects.maxPerUser})`);
    for (const s of own) lines.push(`• ${quote(s.name)}: ${plural(s.photoHashes.length, 'photo')} · ${sharing(s, guildId)}`);
  }
  if (others.length) {
    lines.push('**Shared in this server by others**');
    for (const s of others) lines.push(`• ${quote(s.name)} by <@${s.ownerId}>: ${plural(s.photoHashes.length, 'photo')}`);
  }
  return { content: fitLines(lines) };
}

async function show(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const s = await find(interaction, deps);
  const photos = await deps.stores.subjects.getPhotos(s);
  const mine = s.ownerId === interaction.user.id;
  const head = mine ? `${quote(s.name)} · yours · ${sharing(s, interaction.guildId)}` : `${quote(s.name)} · shared in this server by <@${s.ownerId}>`;
  const lines = [head, plural(photos.length, 'photo')];
  const limit = interaction.attachmentSizeLimit;
  const files = photos.filter((p) => p.byteLength <= limit).map((p, i) => new AttachmentBuilder(p, { name: `subject-photo-${i + 1}.png` }));
  if (files.length < photos.length) lines.push(`(${plural(photos.length - files.length, 'photo')} too large to show here.)`);
  const base = lines.join('\n');
  const context = s.context ? `Context: ${safeText(s.context, { max: MESSAGE_MAX_CHARS - base.length - 10 })}` : 'No context. Add one with `/subject context`.';
  return { content: `${base}\n${context}`, files };
}

async function rename(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const o = interaction.options;
  deps.textRules.check({ name: o.getString('new_name', true) }, { required: ['name'] });
  assertNotBlocked(await getServerSettings(deps.stores, interaction.guildId), [o.getString('new_name', true)]);
  const before = await find(interaction, deps);
  const after = await deps.stores.subjects.rename(interaction.user.id, interaction.guildId, before.id, o.getString('new_name', true));
  return { content: `Renamed ${quote(before.name)} to ${quote(after.name)}.` };
}

async function setContext(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  deps.textRules.check({ context: interaction.options.getString('text') });
  assertNotBlocked(await getServerSettings(deps.stores, interaction.guildId), [interaction.options.getString('text')]);
  const target = await find(interaction, deps);
  const s = await deps.stores.subjects.setContext(interaction.user.id, interaction.guildId, target.id, interaction.options.getString('text') ?? undefined);
  return { content: s.context ? `Updated the context of ${quote(s.name)}.` : `Cleared the context of ${quote(s.name)}.` };
}

async function share(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  if (!interaction.inGuild()) {
    throw new InputError('subject_share_dm', 'Subjects can only be shared in a server: run `/subject share` there.');
  }
  const { subjects } = deps.stores;
  const before = await find(interaction, deps);
  if (before.ownerId !== interaction.user.id) throw new InputError('subject_not_owner', `${quote(before.name)} belongs to someone else; only they can share it.`);
  if (!(await getServerSettings(deps.stores, interaction.guildId)).membersMayShare && !canManageGuild(interaction)) {
    throw new InputError('sharing_off', 'In this server only members with Manage Server can share subjects.');
  }
  const after = await subjects.share(interaction.user.id, interaction.guildId, before.id);
  if (before.sharedIn === interaction.guildId) return { content: `${quote(after.name)} is already shared in this server.` };
  const moved = before.sharedIn !== null ? ' It is no longer shared in the other server.' : '';
  return { content: `${quote(after.name)} is now shared in this server: everyone here can use it with \`/personalize\`.${moved} \`/subject unshare\` stops it.` };
}

async function unshare(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const { subject, note } = await moderate(interaction, deps, 'unshare');
  return { content: [`${quote(subject.name)} is no longer shared.`, note].filter(Boolean).join('\n') };
}

async function remove(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const { subject, note } = await moderate(interaction, deps, 'delete');
  return { content: [`Deleted ${quote(subject.name)}.`, note].filter(Boolean).join('\n') };
}

/**
 * unshare / delete: the owner, or a member with Manage Server where the subject is shared. What a
 * manager does to another member's subject goes to the mod log, so nothing is taken from anyone silently.
 */
async function moderate(
  interaction: ChatInputCommandInteraction,
  deps: BotDeps,
  action: 'unshare' | 'delete',
): Promise<{ subject: Subject; note: string | null }> {
  const { subjects } = deps.stores;
  const userId = interaction.user.id;
  const guildId = interaction.guildId;
  const target = await find(interaction, deps);
  const settings = await getServerSettings(deps.stores, guildId);
  // A server may keep deleting a shared subject to its owner (its managers can still unshare it).
  const ownerOnly = action === 'delete' && settings.sharedDelete === 'owner_only';
  const manager = canManageGuild(interaction);
  try {
    const subject =
      action === 'delete'
        ? await subjects.delete(userId, guildId, target.id, { canManageGuild: manager && !ownerOnly })
        : await subjects.unshare(userId, guildId, target.id, { canManageGuild: manager });
    if (subject.ownerId === userId) return { subject, note: null };
    const did = action === 'delete' ? 'Deleted' : 'Unshared';
    const note = await postModLog(interaction, deps, settings.modLogChannel, [`${did} <@${subject.ownerId}>'s shared subject ${quote(subject.name)}`], 'Moderator action');
    return { subject, note };
  } catch (err) {
    if (err instanceof UserFacingError && err.code === 'subject_not_owner' && ownerOnly && manager) {
      throw new InputError('subject_not_owner', `In this server only its owner can delete ${quote(target.name)}; you can \`/subject unshare\` it.`);
    }
    if (err instanceof UserFacingError && err.code === 'subject_not_owner') {
      throw new InputError('subject_not_owner', `${quote(target.name)} belongs to someone else; only they or a member with Manage Server can ${action} it.`);
    }
    throw err;
  }
}

async function forgetMe(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Answer> {
  const userId = interaction.user.id;
  const { stores, queue } = deps;
  const snap = queue.snapshot();
  const active = [...snap.running, ...snap.waiting].filter((j) => j.userId === userId).map((j) => j.id);

  if (!interaction.options.getBoolean('confirm', true)) {
    const subjects = await stores.subjects.count(userId);
    const jobs = (await stores.jobs.listByUser(userId, { limit: Number.MAX_SAFE_INTEGER })).length;
    const parts = [`${plural(subjects, 'saved subject')} (also where shared) with their photos`, plural(jobs, 'image record'), 'cached descriptions of your photos'];
    return {
      content: [
        `This would delete everything the bot keeps about you: ${parts.join(', ')}${active.length ? `, and cancel ${plural(active.length, 'image')} in the queue` : ''}.`,
        'Images already posted stay in their channels. To go ahead: `/subject forget-me confirm:True`.',
      ].join('\n'),
    };
  }

  let cancelled = 0;
  for (const id of active) if (queue.cancel(id, 'You asked the bot to forget your data.')) cancelled++;
  // A cancelled job that is still running could write its result; let it wind down first.
  const deadline = Date.now() + WIND_DOWN_MS;
  while (queue.snapshot().running.some((r) => r.userId === userId) && Date.now() < deadline) await sleep(100);
  // Results being posted, by any gateway, stop at their next step and new ones are held back until the data
  // is gone: the store's locks are per process, so a posting elsewhere could otherwise write between its
  // "does the job exist" check and its write. A later write of theirs is refused (their records are gone).
  const reached = await deps.forgetReach.stopEverywhere(userId, Math.max(0, deadline - Date.now()));
  if (reached.answered < reached.asked) deps.logger.warn({ asked: reached.asked, answered: reached.answered }, 'forget-me: not every gateway said it stopped posting in time');
  let result: Awaited<ReturnType<typeof stores.forgetUser>>;
  try {
    result = await stores.forgetUser(userId);
    await queue.forgetUser(userId);
  } finally {
    await deps.forgetReach.release(userId).catch((err: unknown) => deps.logger.warn({ err }, 'forget-me: could not release held postings'));
  }
  const deleted = [
    plural(result.subjects, 'subject'),
    plural(result.jobs, 'image record'),
    plural(result.photos, 'photo'),
    plural(result.groundings, 'cached description'),
  ];
  return {
    content: [
      `Done. Deleted ${deleted.join(', ')}${cancelled ? `; cancelled ${plural(cancelled, 'image')} in the queue` : ''}.`,
      'Images already posted stay in their channels; delete those messages in Discord if you want them gone.',
    ].join('\n'),
  };
}

// ------------------------------------------------------------------------------------- autocomplete

async function autocomplete(interaction: AutocompleteInteraction, deps: BotDeps): Promise<void> {
  const focused = interaction.options.getFocused(true);
  if (focused.name !== 'name' || interaction.options.getSubcommand(false) === 'save') {
    await interaction.respond([]);
    return;
  }
  const choices = await deps.stores.subjects
    .suggest(interaction.user.id, interaction.guildId, String(focused.value), {
      ownerLabel: (id) => interaction.client.users.cache.get(id)?.username,
    })
    .catch((err) => {
      deps.logger.warn({ err }, 'subject suggestions failed');
      return [];
    });
  await interaction.respond(choices.slice(0, 25));
}

// ------------------------------------------------------------------------------------------ helpers

/** The user cancelled a confirmation or let it time out; the message already says so. */
class Unanswered extends Error {}

function canManageGuild(interaction: ChatInputCommandInteraction): boolean {
  return interaction.inGuild() && (interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false);
}

/** The subject in the `name` option (an id from autocomplete, or a typed name) that this user may see here. */
async function find(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<Subject> {
  const value = interaction.options.getString('name', true);
  try {
    return await deps.stores.subjects.get(interaction.user.id, interaction.guildId, value);
  } catch (err) {
    // A stale autocomplete choice: never echo the bare id.
    if (err instanceof UserFacingError && err.code === 'subject_not_found' && AUTOCOMPLETE_ID.test(value.trim())) {
      throw new InputError('subject_not_found', 'That subject was deleted or is not shared in this server; pick one from the list.');
    }
    throw err;
  }
}

/** Where a subject is shared, as the person asking may see it (never which other server). */
function sharing(s: Subject, guildId: string | null): string {
  if (s.sharedIn === null) return 'private';
  if (guildId === null) return 'shared in a server';
  return s.sharedIn === guildId ? 'shared in this server' : 'shared in another server';
}

/** A subject name in bold, shown literally (a name is someone's text, and shared ones reach others). */
function quote(name: string): string {
  return `**${safeText(name)}**`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Joins lines up to `max` characters; the subjects that do not fit become "…and N more." */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const subject: BotCommand = { data, execute, autocomplete };
