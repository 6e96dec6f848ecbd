import {
  MessageFlags,
  SlashCommandBuilder,
  type Attachment,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { BotCommand } from '../src/bot/command.ts';
import { confirmPhotoUse } from '../src/bot/photo-confirmations.ts';
import { storeJobPhotos } from '../src/bot/photo-intake.ts';
import { userMessage } from '../src/bot/reply-errors.ts';
import { applyCaps, assertChannelAllowed, assertNotBlocked, assertTraceAllowed } from '../src/bot/server-rules.ts';
import { startJob } from '../src/bot/start-job.ts';
import { interactionStatus } from '../src/bot/status/interaction-status.ts';
import type { BotDeps } from '../src/bot/bot-deps.ts';
import { admitJob, checkAdmission, type AdmittedJob } from '../src/jobs/admission/admit.ts';
import { CandidatesSchema, CONTEXT_MAX_CHARS, GenerateOptionsSchema, MAX_CANDIDATES, MAX_COUNT, NAME_MAX_CHARS, parseOrThrow, PROMPT_MAX_CHARS } from '../src/request-options.ts';
import { newId, type JobRecord } from '../src/store/index.ts';
import { getServerSettings, type ServerSettings } from '../src/store/server-settings.ts';

const IMAGE_OPTIONS = ['image1', 'image2', 'image3', 'image4'] as const;

const data = new SlashCommandBuilder()
  .setName('personalize')
  .setDescription('Draw your subject (from photos or a saved subject) doing what you describe')
  .addStringOption((o) => o.setName('prompt').setDescription('What the subject should be doing').setRequired(true).setMaxLength(PROMPT_MAX_CHARS));
for (const [i, name] of IMAGE_OPTIONS.entries()) {
  data.addAttachmentOption((o) => o.setName(name).setDescription(i === 0 ? 'A photo of the subject' : 'Another photo of the subject'));
}
data
  .addStringOption((o) => o.setName('subject').setDescription('A saved subject (yours or shared in this server)').setAutocomplete(true))
  .addStringOption((o) => o.setName('name').setDescription('What you call the subject').setMaxLength(NAME_MAX_CHARS))
  .addStringOption((o) => o.setName('context').setDescription('Anything else about the subject').setMaxLength(CONTEXT_MAX_CHARS))
  .addBooleanOption((o) => o.setName('trace').setDescription('Post the reasoning with the image'))
  .addIntegerOption((o) => o.setName('seed').setDescription('Same seed, same picture').setMinValue(0).setMaxValue(2 ** 32 - 1))
  .addNumberOption((o) => o.setName('guidance').setDescription('How closely to follow the prompt (1-20, default 5)').setMinValue(1).setMaxValue(20))
  .addIntegerOption((o) => o.setName('count').setDescription(`Images at once (1-${MAX_COUNT})`).setMinValue(1).setMaxValue(MAX_COUNT))
  .addIntegerOption((o) =>
    o.setName('candidates').setDescription(`Draw several (1-${MAX_CANDIDATES}), show the best first, pick another from a menu`).setMinValue(1).setMaxValue(MAX_CANDIDATES),
  );

async function execute(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<void> {
  // Bad text and what this server does not allow are refused before anything is downloaded, stored or
  // queued, and only the user sees why.
  let request: Request;
  let settings: ServerSettings;
  try {
    const o = interaction.options;
    const texts = { prompt: o.getString('prompt', true), name: o.getString('name'), context: o.getString('context') };
    deps.textRules.check(texts, { required: ['prompt'] });
    settings = await getServerSettings(deps.stores, interaction.guildId);
    assertChannelAllowed(settings, interaction);
    assertNotBlocked(settings, [texts.prompt, texts.name, texts.context]);
    const trace = o.getBoolean('trace') ?? false;
    assertTraceAllowed(settings, trace);
    const { count, cfgWeight, candidates } = applyCaps(settings, { count: o.getInteger('count'), guidance: o.getNumber('guidance'), candidates: o.getInteger('candidates') });
    const options = parseOrThrow(GenerateOptionsSchema, { prompt: texts.prompt, seed: o.getInteger('seed') ?? undefined, cfgWeight, count });
    const group = candidates > 1 ? parseOrThrow(CandidatesSchema, candidates) : undefined;
    // Decided, and held, when the job is made (admitJob); this answers the usual case before the public reply.
    await checkAdmission(deps, { userId: interaction.user.id, guildId: interaction.guildId, images: group ?? options.count, jobsPerUser: settings.jobsPerUser });
    request = { options, trace, candidates: group };
  } catch (err) {
    const content = userMessage(err, deps.logger, { command: 'personalize' });
    await interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    return;
  }
  // Consent / "no real person" first, in an ephemeral message; on confirmation the click makes the public reply.
  let replier: ChatInputCommandInteraction | ButtonInteraction = interaction;
  const usesPhotos = IMAGE_OPTIONS.some((n) => interaction.options.getAttachment(n)) || interaction.options.getString('subject') !== null;
  const confirmation = usesPhotos ? await confirmPhotoUse(interaction, deps, settings) : { asked: false as const };
  if (!confirmation) return;
  if (confirmation.asked) {
    replier = confirmation.click;
    await replier.deferReply();
    await interaction.editReply({ content: 'Thanks, confirmed. Your image is on its way below.', components: [] }).catch(() => {});
  } else {
    await interaction.deferReply();
  }
  const status = await interactionStatus(replier, deps);
  let admitted: AdmittedJob;
  try {
    admitted = await createJob(interaction, deps, request, settings);
  } catch (err) {
    // The public "thinking…" reply goes; the reason is for the user alone.
    const content = userMessage(err, deps.logger, { command: 'personalize' });
    await replier.deleteReply().catch(() => {});
    await replier.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    return;
  }
  await startJob(deps, admitted.job, status, { ticket: admitted.ticket, trace: request.trace, sizeLimit: interaction.attachmentSizeLimit, startThreadFrom: status.message });
}

interface Request {
  options: { prompt: string; seed?: number; cfgWeight: number; count: number };
  trace: boolean;
  /** A group of candidates (2-8) instead of `count` images. */
  candidates?: number;
}

async function createJob(
  interaction: ChatInputCommandInteraction,
  deps: BotDeps,
  request: Request,
  settings: ServerSettings,
): Promise<AdmittedJob> {
  const { options } = request;
  // Refused before anything is downloaded or stored: the place and images taken here count at once
  // (others running /personalize meanwhile cannot take them) and the place becomes the job in startJob.
  const id = newId();
  const images = request.candidates ?? options.count;
  return admitJob(deps, id, { userId: interaction.user.id, guildId: interaction.guildId, images, jobsPerUser: settings.jobsPerUser }, () =>
    intake(interaction, deps, id, options, request.candidates),
  );
}

async function intake(
  interaction: ChatInputCommandInteraction,
  deps: BotDeps,
  id: string,
  options: { prompt: string; seed?: number; cfgWeight?: number; count?: number },
  candidates: number | undefined,
): Promise<JobRecord> {
  const o = interaction.options;
  const { stores } = deps;
  const attachments = IMAGE_OPTIONS.map((n) => o.getAttachment(n)).filter((a): a is Attachment => a !== null);
  const subjectArg = o.getString('subject');
  const subject = subjectArg ? await stores.subjects.get(interaction.user.id, interaction.guildId, subjectArg) : undefined;
  const photoHashes = await storeJobPhotos(deps, id, attachments.map((a) => ({ url: a.url, name: a.name, size: a.size })));
  try {
    return await stores.jobs.create({
      id,
      ownerId: interaction.user.id,
      guildId: interaction.guildId,
      channelId: interaction.channelId,
      prompt: options.prompt,
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
      options: { cfgWeight: options.cfgWeight, count: options.count },
      candidates,
      subjectId: subject?.id,
      photoHashes: photoHashes.length ? photoHashes : undefined,
      name: o.getString('name') ?? subject?.name,
      uploadLimit: interaction.attachmentSizeLimit,
      context: o.getString('context') ?? undefined,
    });
  } catch (err) {
    await stores.photos.release(photoHashes, `job:${id}`).catch(() => {});
    throw err;
  }
}

async function autocomplete(interaction: AutocompleteInteraction, deps: BotDeps): Promise<void> {
  const query = interaction.options.getFocused();
  const choices = await deps.stores.subjects.suggest(interaction.user.id, interaction.guildId, query).catch(() => []);
  await interaction.respond(choices.slice(0, 25));
}

export const personalize: BotCommand = { data, execute, autocomplete };
