import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Events, GatewayIntentBits, LabelBuilder, MessageFlags, ModalBuilder, SlashCommandBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';
import pino from 'pino';
import { startEmulator, type Emulator } from '../src/local-discord/driver.ts';
import { tinyPng } from '../src/local-discord/tiny-png.ts';
import { startWebServer } from '../src/sandbox/web-server.ts';
import { SANDBOX_APP_ID, SANDBOX_CHANNELS, SANDBOX_GUILD, SANDBOX_MEMBERS, SANDBOX_TOKEN } from '../src/sandbox/world.ts';

// The sandbox's web server as other pages and members can reach it, with a small discord.js bot that
// opens a modal: no request ends the process, unused uploads are freed, a modal is its opener's.
const UPLOAD_TTL_MS = 400;
const [ALICE, BOB] = SANDBOX_MEMBERS;
const CHANNEL = SANDBOX_CHANNELS[0].id;
let emu: Emulator;
let client: Client;
let web: Awaited<ReturnType<typeof startWebServer>>;
const submitted: string[] = [];

before(async () => {
  emu = await startEmulator({
    token: SANDBOX_TOKEN, applicationId: SANDBOX_APP_ID, heartbeatIntervalMs: 250,
    guilds: [{ ...SANDBOX_GUILD, channels: SANDBOX_CHANNELS, members: SANDBOX_MEMBERS }],
  });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: emu.restBase } });
  client.on(Events.InteractionCreate, (interaction) => {
    if (interaction.isChatInputCommand()) {
      void interaction.showModal(new ModalBuilder().setCustomId('note').setTitle('A note').addLabelComponents(
        new LabelBuilder().setLabel('Note').setTextInputComponent(new TextInputBuilder().setCustomId('text').setStyle(TextInputStyle.Short)),
      ));
    } else if (interaction.isModalSubmit()) {
      submitted.push(interaction.user.id);
      void interaction.reply({ content: 'noted', flags: MessageFlags.Ephemeral });
    }
  });
  const ready = once(client, Events.ClientReady);
  await client.login(SANDBOX_TOKEN);
  await ready;
  await client.application!.commands.set([new SlashCommandBuilder().setName('note').setDescription('Write a note')], SANDBOX_GUILD.id);
  web = await startWebServer({ emulator: emu, logger: pino({ level: 'silent' }), port: 0, fixtureModel: true, modelDir: 'none', uploadTtlMs: UPLOAD_TTL_MS });
});

after(async () => {
  await web?.close();
  await client?.destroy();
  await emu?.close();
});

const post = (path: string, body: unknown) =>
  fetch(new URL(path, web.url), { method: 'POST', headers: { 'content-type': 'application/json', 'x-sandbox': '1' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('a missing page file, a bad JSON body and an unknown route each get one error answer, and the server keeps answering', async () => {
  const missing = await fetch(new URL('/nope.js', web.url));
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { error: 'not found' });
  // Many at once, as a hostile page's <script> tags would send them.
  const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(new URL(`/x${'y'.repeat(i)}.js`, web.url)).then((r) => r.status)));
  assert.deepEqual(new Set(statuses), new Set([404]));
  const badJson = await post('/api/message', '{not json');
  assert.equal(badJson.status, 400);
  assert.equal((await post('/api/button', {})).status, 400);
  assert.equal((await fetch(new URL('/api/nothing', web.url))).status, 404);
  const page = await fetch(web.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /app\.js/);
  assert.equal((await fetch(new URL('/api/world', web.url))).status, 200);
});

test('an upload no message took is freed after its time: its bytes leave the CDN and its id is refused', async () => {
  const res = await fetch(new URL('/api/upload?filename=a.png', web.url), { method: 'POST', headers: { 'content-type': 'image/png', 'x-sandbox': '1' }, body: new Uint8Array(tinyPng(4, 4)) });
  assert.equal(res.status, 200);
  const { id } = (await res.json()) as { id: string };
  assert.equal(emu.fileBytes(id).length, tinyPng(4, 4).length);
  await sleep(UPLOAD_TTL_MS + 300);
  assert.throws(() => emu.fileBytes(id), /No stored file/);
  const late = await post('/api/message', { channelId: CHANNEL, userId: ALICE.id, content: 'hi', attachmentIds: [id] });
  assert.equal(late.status, 400);
  assert.match(((await late.json()) as { error: string }).error, /no uploaded file/);
});

test('a photo posted in time stays on the CDN after its upload expires', async () => {
  const res = await fetch(new URL('/api/upload?filename=b.png', web.url), { method: 'POST', headers: { 'content-type': 'image/png', 'x-sandbox': '1' }, body: new Uint8Array(tinyPng(3, 3)) });
  const { id } = (await res.json()) as { id: string };
  assert.equal((await post('/api/message', { channelId: CHANNEL, userId: ALICE.id, content: 'mine', attachmentIds: [id] })).status, 200);
  await sleep(UPLOAD_TTL_MS + 300);
  const posted = emu.messages(CHANNEL).find((m) => m.content === 'mine');
  assert.equal(emu.fileBytes(posted!.attachments[0]).length, tinyPng(3, 3).length);
});

test('a modal can be submitted only by the member who opened it', async () => {
  const opened = (await (await post('/api/command', { channelId: CHANNEL, userId: ALICE.id, name: 'note', options: {} })).json()) as { modalId: string };
  assert.ok(opened.modalId, 'the bot answered with a modal');
  const stolen = await post('/api/modal', { modalId: opened.modalId, userId: BOB.id, values: { text: 'from bob' } });
  assert.equal(stolen.status, 403);
  assert.deepEqual(submitted, []);
  const own = await post('/api/modal', { modalId: opened.modalId, userId: ALICE.id, values: { text: 'from alice' } });
  assert.equal(own.status, 200);
  assert.deepEqual(submitted, [ALICE.id]);
});
