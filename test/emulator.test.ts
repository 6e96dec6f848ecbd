import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  ActionRowBuilder,
  AttachmentBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  FileUploadBuilder,
  GatewayIntentBits,
  LabelBuilder,
  MessageFlags,
  ModalBuilder,
  Partials,
  Routes,
  SlashCommandBuilder,
  TextInputBuilder,
  TextInputStyle,
  type APIMessage,
  type Interaction,
  type Message,
  type MessageReaction,
  type PartialMessageReaction,
  type TextChannel,
  type User,
} from 'discord.js';
import { startEmulator, type Emulator } from '../src/local-discord/driver.ts';
import { tinyPng } from '../src/local-discord/tiny-png.ts';

const TOKEN = 'emulated.bot-token.for-tests';
const APP_ID = '1100000000000000001';
const GUILD_ID = '1200000000000000001';
const CHANNEL_ID = '1200000000000000002';
const SMALL_GUILD_ID = '1200000000000000003';
const SMALL_CHANNEL_ID = '1200000000000000004';
const ALICE = '1300000000000000001';

const RESULT_PNG = tinyPng(4, 3);

/** A few interaction handlers standing in for the real bot; each returns what the emulator should see. */
function attachTestBot(client: Client, emu: Emulator, seen: { errors: unknown[] }): void {
  client.on(Events.InteractionCreate, async (interaction: Interaction) => {
    try {
      await handle(interaction);
    } catch (error) {
      seen.errors.push(error);
    }
  });

  async function handle(interaction: Interaction): Promise<void> {
    if (interaction.isAutocomplete()) {
      const typed = interaction.options.getFocused();
      await interaction.respond(['cat', 'castle', 'car'].filter((s) => s.startsWith(typed)).map((s) => ({ name: s, value: s })));
      return;
    }
    if (interaction.isButton() && interaction.customId === 'reroll') {
      await interaction.update({ content: 'Rerolled', components: [] });
      return;
    }
    if (interaction.isModalSubmit()) {
      const files = interaction.fields.getUploadedFiles('photo', true);
      const caption = interaction.fields.getTextInputValue('caption');
      await interaction.reply({ content: `${caption}: ${files.first()!.name} ${files.first()!.size} bytes` });
      return;
    }
    if (!interaction.isChatInputCommand()) return;
    switch (interaction.commandName) {
      case 'imagine': {
        const reference = interaction.options.getAttachment('reference');
        await interaction.deferReply();
        const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
          new ButtonBuilder().setCustomId('reroll').setLabel('Reroll').setStyle(ButtonStyle.Primary),
        );
        await interaction.editReply({
          content: `Prompt: ${interaction.options.getString('prompt', true)} (reference ${reference?.width}x${reference?.height})`,
          files: [new AttachmentBuilder(RESULT_PNG, { name: 'result.png' })],
          components: [row],
        });
        return;
      }
      case 'upload': {
        const modal = new ModalBuilder().setCustomId('upload-modal').setTitle('Upload a photo');
        modal.addLabelComponents(
          new LabelBuilder().setLabel('Caption').setTextInputComponent(new TextInputBuilder().setCustomId('caption').setStyle(TextInputStyle.Short)),
          new LabelBuilder().setLabel('Photo').setFileUploadComponent(new FileUploadBuilder().setCustomId('photo').setMinValues(1).setMaxValues(1)),
        );
        await interaction.showModal(modal);
        return;
      }
      case 'slow':
        emu.advanceTime(3_100); // the bot "took" 3.1 s before answering
        await interaction.deferReply();
        return;
      case 'twice':
        await interaction.reply('first');
        // Bypass discord.js's own "already replied" guard to reach Discord's answer.
        await client.rest.post(`/interactions/${interaction.id}/${interaction.token}/callback`, { body: { type: 4, data: { content: 'again' } }, auth: false });
        return;
      case 'followups': {
        await interaction.reply({ content: 'one', withResponse: true });
        await interaction.followUp({ content: 'two (only you)', flags: MessageFlags.Ephemeral });
        await interaction.followUp({ content: 'three', files: [new AttachmentBuilder(RESULT_PNG, { name: 'again.png' })] });
        await interaction.editReply({ content: 'one, edited' });
        await interaction.fetchReply();
        return;
      }
      case 'later':
        await interaction.deferReply();
        emu.advanceTime(15 * 60_000 + 1_000);
        await interaction.editReply('too late');
        return;
    }
  }
}

const rawComponents = (components: unknown[]) => components.map((c) => ({ toJSON: () => c }));
const button = (customId: string) => ({ type: 2, style: 1, label: 'Go', custom_id: customId });

describe('Discord emulator with a real discord.js client', () => {
  let emu: Emulator;
  let client: Client;
  let channel: TextChannel;
  const seen = { errors: [] as unknown[] };

  before(async () => {
    emu = await startEmulator({
      token: TOKEN,
      applicationId: APP_ID,
      heartbeatIntervalMs: 250,
      guilds: [
        { id: GUILD_ID, name: 'Art', channels: [{ id: CHANNEL_ID, name: 'art' }], members: [{ id: ALICE, username: 'alice' }] },
        { id: SMALL_GUILD_ID, attachmentSizeLimit: 64, channels: [{ id: SMALL_CHANNEL_ID }], members: [{ id: ALICE }] },
      ],
    });
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
      rest: { api: emu.restBase },
    });
    attachTestBot(client, emu, seen);
    const ready = once(client, Events.ClientReady);
    await client.login(TOKEN);
    await ready;
    channel = client.channels.cache.get(CHANNEL_ID) as TextChannel;
  });

  after(async () => {
    await client?.destroy();
    await emu?.close();
  });

  it('connects: READY, GUILD_CREATE with channels, members and roles', () => {
    assert.equal(client.user?.id, APP_ID);
    assert.equal(client.application?.id, APP_ID);
    assert.equal(client.guilds.cache.size, 2);
    assert.equal(channel.name, 'art');
    assert.ok(client.guilds.cache.get(GUILD_ID)?.members.me, 'bot member is cached');
    emu.assertNoViolations();
  });

  it('registers guild commands with a bulk overwrite', async () => {
    const imagine = new SlashCommandBuilder().setName('imagine').setDescription('Make an image')
      .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setAutocomplete(true))
      .addAttachmentOption((o) => o.setName('reference').setDescription('Reference photo'));
    const simple = ['upload', 'followups', 'slow', 'twice', 'later', 'ignored'].map((name) =>
      new SlashCommandBuilder().setName(name).setDescription(name),
    );
    await client.application!.commands.set([imagine, ...simple], GUILD_ID);
    assert.deepEqual(emu.commands(GUILD_ID).map((c) => c.name), ['imagine', 'upload', 'followups', 'slow', 'twice', 'later', 'ignored']);
    await assert.rejects(
      client.application!.commands.set([{ name: 'Bad Name', description: 'x' }], GUILD_ID),
      (error: DiscordAPIError) => error.code === 50035,
    );
    assert.ok(emu.violations().some((v) => v.issues.some((i) => i.code === 'APPLICATION_COMMAND_INVALID_NAME')));
    emu.clearViolations();
  });

  let reply: APIMessage;

  it('runs a slash command: deferReply, editReply with a PNG and a button', async () => {
    const reference = emu.uploadAttachment(tinyPng(8, 6), 'face.png');
    const run = emu.runSlashCommand({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name: 'imagine', options: { prompt: 'a cat', reference } });
    assert.equal(await run.waitForAck(), 5);
    reply = await run.waitForReply();
    assert.equal(reply.content, 'Prompt: a cat (reference 8x6)');
    assert.equal(reply.attachments.length, 1);
    const [png] = reply.attachments;
    assert.equal(png.content_type, 'image/png');
    assert.equal(png.width, 4);
    assert.equal(png.height, 3);
    assert.ok(emu.fileBytes(png).equals(RESULT_PNG));
    const downloaded = Buffer.from(await (await fetch(png.url)).arrayBuffer());
    assert.ok(downloaded.equals(RESULT_PNG), 'CDN serves the uploaded bytes');
    assert.ok(png.url.startsWith(`${emu.cdnBase}/attachments/${CHANNEL_ID}/`) && /[?&]ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]+/.test(png.url));
    assert.equal(reply.components?.length, 1);
    assert.deepEqual(emu.messages(CHANNEL_ID).map((m) => m.id), [reply.id]);
    emu.assertNoViolations();
  });

  it('clicks the button and the bot update()s the message', async () => {
    const click = emu.clickButton(reply.id, 'reroll', ALICE);
    const updated = await click.waitForReply();
    assert.equal(click.callbackType, 7);
    assert.equal(updated.id, reply.id);
    assert.equal(updated.content, 'Rerolled');
    assert.deepEqual(updated.components, []);
    assert.equal(updated.attachments.length, 1, 'update without attachments keeps the image');
    emu.assertNoViolations();
  });

  it('starts a thread from the reply, posts in it, and sees user posts after a gateway resume', async () => {
    const message = await channel.messages.fetch(reply.id);
    const thread = await message.startThread({ name: 'Result discussion' });
    assert.equal(thread.id, reply.id, 'a thread started from a message takes its id');
    await emu.waitFor((e) => e.kind === 'thread_create' && e.thread.id === thread.id);
    await thread.send('Want another?');
    assert.equal(emu.messages(thread.id)[0]?.content, 'Want another?');
    assert.equal(emu.message(reply.id)?.thread?.id, thread.id);

    // Posted while the connection is down: the client gets it replayed on RESUME.
    const received = nextMessage(client, (m) => m.author.id === ALICE);
    const resumed = emu.kickGateway();
    emu.postMessage(thread.id, ALICE, 'Yes please', [emu.uploadAttachment(tinyPng(2, 2), 'mine.png')]);
    await resumed;
    const userMessage = await received;
    assert.equal(userMessage.content, 'Yes please');
    assert.equal(userMessage.attachments.first()?.width, 2);
    emu.assertNoViolations();
  });

  it('answers autocomplete and a modal with a file upload', async () => {
    const choices = await emu.autocomplete({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name: 'imagine', options: { prompt: 'ca' }, focused: 'prompt' });
    assert.deepEqual(choices.map((c) => c.value), ['cat', 'castle', 'car']);
    const opened = emu.runSlashCommand({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name: 'upload' });
    const photo = emu.uploadAttachment(tinyPng(5, 5), 'photo.png');
    const submitted = await emu.submitModal(opened, { caption: 'Me', photo: [photo] });
    const answer = await submitted.waitForReply();
    assert.equal(answer.content, `Me: photo.png ${tinyPng(5, 5).length} bytes`);
    emu.assertNoViolations();
  });

  it('answers follow-ups and every emulated route with spec-complete objects', async () => {
    const run = emu.runSlashCommand({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name: 'followups' });
    assert.equal((await run.waitForReply()).content, 'one');
    assert.equal((await run.waitForFollowUp(0)).flags! & MessageFlags.Ephemeral, MessageFlags.Ephemeral);
    assert.equal((await run.waitForFollowUp(1)).attachments[0]?.filename, 'again.png');
    assert.equal((await run.waitForReplyCount(2)).content, 'one, edited');

    await client.rest.get(Routes.user('@me'));
    await client.application!.fetch();
    await client.guilds.fetch({ guild: GUILD_ID, force: true });
    await client.guilds.cache.get(GUILD_ID)!.members.fetch({ user: ALICE, force: true });
    await client.channels.fetch(CHANNEL_ID, { force: true });
    await client.application!.commands.fetch({ guildId: GUILD_ID });
    const history = await channel.messages.fetch({ limit: 10 });
    assert.ok(history.size >= 2);
    const thread = await channel.threads.create({ name: 'Side thread', type: ChannelType.PublicThread });
    await thread.join();
    const note = await thread.send({ content: 'note', files: [new AttachmentBuilder(RESULT_PNG, { name: 'n.png' })] });
    await note.edit({ content: 'note, edited', attachments: [] });
    assert.equal(emu.message(note.id)?.attachments.length, 0, 'a PATCH keeps only the attachments it lists');
    await note.delete();
    assert.equal(emu.message(note.id), undefined);
    emu.assertNoViolations();
  });

  it('retries after a forced 429', async () => {
    emu.forceRateLimit({ method: 'POST', path: `/channels/${CHANNEL_ID}/messages`, retryAfterMs: 150 });
    const started = Date.now();
    const sent = await channel.send('after the rate limit');
    assert.ok(Date.now() - started >= 150);
    assert.equal(emu.message(sent.id)?.content, 'after the rate limit');
    emu.assertNoViolations();
  });

  it('reports what Discord would reject, and discord.js gets the error', async () => {
    const expectViolation = async (action: Promise<unknown>, code: number, check: (text: string) => boolean) => {
      emu.clearViolations();
      await assert.rejects(action, (error: DiscordAPIError) => error instanceof DiscordAPIError && error.code === code);
      const text = JSON.stringify(emu.violations());
      assert.ok(check(text), text);
    };
    await expectViolation(channel.send('x'.repeat(2001)), 50035, (t) => t.includes('"content"') && t.includes('2000'));
    await expectViolation(channel.send({ content: 'x', components: rawComponents([{ type: 1, components: [button('y'.repeat(101))] }]) as never }), 50035, (t) => t.includes('custom_id'));
    const sixRows = Array.from({ length: 6 }, (_, i) => ({ type: 1, components: [button(`b${i}`)] }));
    await expectViolation(channel.send({ content: 'x', components: rawComponents(sixRows) as never }), 50035, (t) => t.includes('"components"'));
    await expectViolation(client.rest.get('/no/such/route'), 0, (t) => t.includes('"kind":"route"'));
    emu.clearViolations();
    const staleUrl = reply.attachments[0].url;
    emu.advanceTime(25 * 60 * 60_000); // signed CDN URLs expire after 24 h
    assert.equal((await fetch(staleUrl)).status, 404);
    assert.ok(emu.violations().some((v) => v.kind === 'cdn' && v.message.includes('expired')));
    const refreshed = await channel.messages.fetch({ message: reply.id, force: true });
    assert.equal((await fetch(refreshed.attachments.first()!.url)).status, 200, 'a fetched message carries freshly signed URLs');
    const small = client.channels.cache.get(SMALL_CHANNEL_ID) as TextChannel;
    await expectViolation(small.send({ files: [new AttachmentBuilder(RESULT_PNG, { name: 'big.png' })] }), 40005, (t) => t.includes('40005'));
    emu.clearViolations();
  });

  it('enforces interaction timing: 3 s to acknowledge, one acknowledgement, 15 min token', async () => {
    const cases: [string, number, string][] = [
      ['slow', 10062, '"kind":"timing"'],
      ['twice', 40060, 'already been acknowledged'],
      ['later', 50027, 'Invalid Webhook Token'],
    ];
    for (const [name, code, text] of cases) {
      emu.clearViolations();
      seen.errors.length = 0;
      emu.runSlashCommand({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name });
      const error = await waitForError(seen);
      assert.ok(error instanceof DiscordAPIError && error.code === code, `${name}: ${String(error)}`);
      assert.ok(JSON.stringify(emu.violations()).includes(text), `${name}: ${JSON.stringify(emu.violations())}`);
    }
    emu.clearViolations();
    emu.runSlashCommand({ guildId: GUILD_ID, channelId: CHANNEL_ID, userId: ALICE, name: 'ignored' });
    emu.advanceTime(3_100);
    assert.match(emu.violations()[0]?.message ?? '', /never acknowledged/);
    emu.clearViolations();
  });

  it('gives select menus Discord’s default min and max values, and sends reactions only with the GuildMessageReactions intent', async () => {
    const menu = { type: 3, custom_id: 'menu', options: [{ label: 'One', value: '1' }, { label: 'Two', value: '2' }] };
    const sent = await channel.send({ content: 'menu', components: rawComponents([{ type: 1, components: [menu] }]) as never });
    const rendered = emu.message(sent.id)!.components![0] as unknown as { components: { min_values: number; max_values: number }[] };
    assert.deepEqual([rendered.components[0].min_values, rendered.components[0].max_values], [1, 1]);
    emu.assertNoViolations();

    const reacting = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.GuildMessageReactions],
      partials: [Partials.Message, Partials.Reaction, Partials.User],
      rest: { api: emu.restBase },
    });
    const withoutIntent: string[] = [];
    const onReaction = (r: MessageReaction | PartialMessageReaction) => withoutIntent.push(r.emoji.name ?? '');
    client.on(Events.MessageReactionAdd, onReaction);
    try {
      const ready = once(reacting, Events.ClientReady);
      await reacting.login(TOKEN);
      await ready;
      const added = once(reacting, Events.MessageReactionAdd);
      assert.equal(emu.react(sent.id, ALICE, '👍'), true);
      assert.equal(emu.react(sent.id, ALICE, '👍'), false, 'a reaction made twice is one reaction');
      const [reaction, user] = (await added) as [MessageReaction, User];
      assert.deepEqual([reaction.emoji.name, reaction.message.id, user.id], ['👍', sent.id, ALICE]);
      const removed = once(reacting, Events.MessageReactionRemove);
      assert.equal(emu.unreact(sent.id, ALICE, '👍'), true);
      assert.equal(((await removed) as [MessageReaction])[0].emoji.name, '👍');
      assert.deepEqual(withoutIntent, [], 'a client without the intent gets no reaction events');
    } finally {
      client.off(Events.MessageReactionAdd, onReaction);
      await reacting.destroy();
    }
    emu.assertNoViolations();
  });

  it('blanks message content for a client without the MessageContent intent', async () => {
    const plain = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: emu.restBase } });
    try {
      const ready = once(plain, Events.ClientReady);
      await plain.login(TOKEN);
      await ready;
      const received = nextMessage(plain, (m) => m.author.id === ALICE);
      emu.postMessage(CHANNEL_ID, ALICE, 'secret words');
      const message = await received;
      assert.equal(message.content, '');
    } finally {
      await plain.destroy();
    }
    emu.assertNoViolations();
  });
});

function nextMessage(client: Client, filter: (message: Message) => boolean): Promise<Message> {
  return new Promise((resolve) => {
    const listener = (message: Message) => {
      if (!filter(message)) return;
      client.off(Events.MessageCreate, listener);
      resolve(message);
    };
    client.on(Events.MessageCreate, listener);
  });
}

async function waitForError(seen: { errors: unknown[] }, timeoutMs = 5000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  while (seen.errors.length === 0) {
    if (Date.now() > deadline) throw new Error('the bot saw no error');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return seen.errors[0];
}
