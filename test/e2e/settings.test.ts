import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RESTEvents, Routes, type APIMessage } from 'discord.js';
import { commands } from '../../commands/index.ts';
import { CommandRegistry } from '../../src/bot/command-registry.ts';
import { getServerSettings } from '../../src/store/server-settings.ts';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import {
  ALICE,
  APP_ID,
  BOB,
  CAROL,
  CHANNEL_A,
  CHANNEL_B,
  GUILD_A,
  GUILD_B,
  MANAGE_GUILD,
  buttonId,
  personalize,
  photo,
  startHarness,
  waitForThreadResult,
  type Harness,
} from './harness.ts';

const EPHEMERAL = 1 << 6;
const MODLOG = '1200000000000000013';
const OTHER = '1200000000000000014';

let h: Harness;
/** Bodies the bot sent to create messages in the mod-log channel. */
const modlogBodies: Record<string, unknown>[] = [];

before(async () => {
  h = await startHarness({
    guilds: [
      {
        id: GUILD_A,
        name: 'Pets',
        channels: [{ id: CHANNEL_A, name: 'art' }, { id: MODLOG, name: 'mod-log' }, { id: OTHER, name: 'chat' }],
        members: [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }, { id: CAROL, username: 'carol', permissions: MANAGE_GUILD }],
      },
      { id: GUILD_B, name: 'Other', channels: [{ id: CHANNEL_B, name: 'general' }], members: [{ id: ALICE, username: 'alice' }] },
    ],
  });
  h.bot.client.rest.on(RESTEvents.Response, (request) => {
    if (request.method === 'POST' && request.path === `/channels/${MODLOG}/messages`) modlogBodies.push(request.data.body as Record<string, unknown>);
  });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function ephemeral(handle: ReturnType<Harness['emu']['runSlashCommand']>): Promise<APIMessage> {
  const reply = await handle.waitForReply(15_000);
  assert.ok((Number(reply.flags ?? 0) & EPHEMERAL) !== 0, `answered ephemerally: ${reply.content}`);
  return reply;
}

/** Carol (Manage Server) runs /settings <sub> in guild A. */
function settings(sub: string, options: Record<string, OptionValue> = {}, userId = CAROL): Promise<APIMessage> {
  return ephemeral(h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'settings', subcommand: sub, options }));
}

/** /personalize that the bot refuses: the ephemeral answer; nothing of the user queued or stored. */
async function refused(options: Record<string, OptionValue>, channelId = CHANNEL_A, userId = ALICE): Promise<string> {
  const before = (await h.deps.stores.jobs.listByUser(userId)).length;
  const reply = await ephemeral(h.emu.runSlashCommand({ guildId: GUILD_A, channelId, userId, name: 'personalize', options }));
  assert.equal((await h.deps.stores.jobs.listByUser(userId)).length, before, 'no job stored');
  return reply.content;
}

test('/settings needs Manage Server: Discord hides it from others, and the handler refuses them even where an admin opened it up', async () => {
  const registered = h.emu.commands(GUILD_A).find((c) => c.name === 'settings');
  assert.equal(registered?.default_member_permissions, String(MANAGE_GUILD));
  assert.throws(() => h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: BOB, name: 'settings', subcommand: 'show' }), /cannot see \/settings/);

  // As if a server admin let everyone use the command (Integrations settings): the handler still checks.
  const body = new CommandRegistry(commands).toJSON().map((c) => (c.name === 'settings' ? { ...c, default_member_permissions: null } : c));
  await h.bot.client.rest.put(Routes.applicationGuildCommands(APP_ID, GUILD_A), { body });
  try {
    const reply = await settings('blocklist', { action: 'add', phrase: 'anything' }, BOB);
    assert.match(reply.content, /Only members with the \*\*Manage Server\*\* permission/);
    assert.deepEqual((await getServerSettings(h.deps.stores, GUILD_A)).blockedPhrases, []);
  } finally {
    await h.bot.client.rest.put(Routes.applicationGuildCommands(APP_ID, GUILD_A), { body: new CommandRegistry(commands).toJSON() });
  }
  h.emu.assertNoViolations();
});

test('each change is logged to the mod-log channel: who changed what, no pings', async () => {
  const since = h.emu.eventCursor();
  const set = await settings('modlog', { channel: MODLOG });
  assert.match(set.content, new RegExp(`Mod log: off → <#${MODLOG}>`));
  const logged = await h.emu.waitForMessage(MODLOG, () => true, 5000, since);
  assert.match(logged.content, new RegExp(`by <@${CAROL}> \\(carol\\)`));
  assert.match(logged.content, new RegExp(`Mod log: off → <#${MODLOG}>`));

  await settings('limits', { count_max: 2, guidance_max: 8 });
  const limits = await h.emu.waitForMessage(MODLOG, (m) => /Most images/.test(m.content), 5000, since);
  assert.match(limits.content, /Most images at once: 4 → 2/);
  assert.match(limits.content, /Highest guidance: 20 → 8/);
  assert.ok(modlogBodies.length >= 2);
  for (const b of modlogBodies) assert.deepEqual(b.allowed_mentions, { parse: [] });

  assert.match((await settings('limits', { count_max: 2 })).content, /Nothing changed/);
  assert.match((await settings('limits')).content, /Give at least one option/);
  h.emu.assertNoViolations();
});

test('a default above its cap is refused and nothing changes', async () => {
  const reply = await settings('limits', { count_default: 3 });
  assert.match(reply.content, /default image count cannot be above the maximum/);
  const s = await getServerSettings(h.deps.stores, GUILD_A);
  assert.deepEqual([s.countDefault, s.countMax], [1, 2]);
});

test('/personalize over the count or guidance cap is refused ephemerally, before anything is stored', async () => {
  assert.match(await refused({ prompt: 'three dogs', count: 3 }), /allows at most 2 images at once/);
  assert.match(await refused({ prompt: 'a dog', guidance: 12 }), /allows guidance up to 8/);
  h.emu.assertNoViolations();
});

test('the block list refuses prompts, names and contexts, case and accents and look-alikes ignored, whole words only', async () => {
  await settings('blocklist', { action: 'add', phrase: 'Moon landing' });
  await settings('blocklist', { action: 'add', phrase: 'gore' });
  assert.match((await settings('blocklist', { action: 'add', phrase: 'GORE' })).content, /already on the list/);
  assert.match((await settings('blocklist', { action: 'add', phrase: '!!!' })).content, /no letters or digits/);

  for (const prompt of ['my dog at the MOON-LANDING', 'a dog, ＧＯＲＥ everywhere', 'góre\u200b and a dog', 'moon   landing']) {
    assert.match(await refused({ prompt }), /does not allow “(Moon landing|gore)”/, prompt);
  }
  assert.match(await refused({ prompt: 'a dog', name: 'gore' }), /does not allow “gore”/);
  assert.match(await refused({ prompt: 'a dog', context: 'moon landing' }), /does not allow “Moon landing”/);
  // /subject save and rename too.
  const save = await ephemeral(
    h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'subject', subcommand: 'save', options: { name: 'Gore', image1: h.emu.uploadAttachment(await photo('#a05020'), 'd.png', 'image/png', CHANNEL_A) } }),
  );
  assert.match(save.content, /does not allow “gore”/);
  assert.equal(await h.deps.stores.subjects.count(ALICE), 0);

  const log = await h.emu.waitForMessage(MODLOG, (m) => /Blocked phrases: added “Moon landing”/.test(m.content), 5000);
  assert.match(log.content, new RegExp(`<@${CAROL}>`));
  h.emu.assertNoViolations();
});

test('/settings show is ephemeral and shows admins’ text literally', async () => {
  await settings('blocklist', { action: 'add', phrase: '**loud** <@1300000000000000012>' });
  const shown = await settings('show');
  assert.match(shown.content, /Most images at once: 2/);
  assert.match(shown.content, /Channels for \/personalize: everywhere/);
  assert.ok(shown.content.includes('“\\*\\*loud\\*\\* \\<@1300000000000000012>”'), shown.content);
  await settings('blocklist', { action: 'remove', phrase: '**LOUD** <@1300000000000000012>' });
  assert.deepEqual((await getServerSettings(h.deps.stores, GUILD_A)).blockedPhrases, ['Moon landing', 'gore']);
});

test('the channel allow-list: /personalize elsewhere is refused and the allowed channels named', async () => {
  await settings('channels', { action: 'add', channel: CHANNEL_A });
  assert.match(await refused({ prompt: 'a dog' }, OTHER), new RegExp(`only in <#${CHANNEL_A}>`));
  assert.match((await settings('channels', { action: 'add', channel: CHANNEL_A })).content, /already on the list/);
  await settings('channels', { action: 'clear' });
  assert.deepEqual((await getServerSettings(h.deps.stores, GUILD_A)).channels, []);
  h.emu.assertNoViolations();
});

test('jobs per member: a second image while one waits is refused; a private reasoning is refused to others', async () => {
  await settings('limits', { jobs_per_user: 1 });
  await settings('privacy', { trace_public: false });
  assert.match(await refused({ prompt: 'a dog', trace: true }), /keeps the reasoning private/);

  const hold = h.holdGenerations();
  const since = h.emu.eventCursor();
  const first = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a dog in the snow', seed: 1, image1: h.emu.uploadAttachment(await photo('#a05020'), 'd.png', 'image/png', CHANNEL_A) } });
  assert.equal(await first.waitForAck(), 5);
  await hold.reached(1);
  assert.match(await refused({ prompt: 'another dog' }), /allows 1 image per member in the queue at once, and you have 1/);
  hold.release();
  const { result } = await waitForThreadResult(h, since);

  const why = buttonId(result, 'why');
  const bob = h.emu.clickButton(result.id, why, BOB);
  assert.match((await bob.waitForReply()).content, /keeps the reasoning private/);
  const alice = await h.emu.clickButton(result.id, why, ALICE).waitForReply();
  assert.ok((Number(alice.flags ?? 0) & EPHEMERAL) !== 0);
  assert.equal(alice.embeds?.length, 1);

  // The block list holds for refinements too.
  const jobs = (await h.deps.stores.jobs.listByUser(ALICE)).length;
  const refine = await h.emu.submitModal(h.emu.clickButton(result.id, buttonId(result, 'refine'), ALICE), { prompt: 'now with GORE' });
  const blocked = await refine.waitForReply();
  assert.ok((Number(blocked.flags ?? 0) & EPHEMERAL) !== 0);
  assert.match(blocked.content, /does not allow “gore”/);
  assert.equal((await h.deps.stores.jobs.listByUser(ALICE)).length, jobs);

  // Variations draw as many images as the server allows (2 here), not 4.
  const vary = h.emu.clickButton(result.id, buttonId(result, 'vary'), ALICE);
  assert.equal(await vary.waitForAck(), 5);
  const varied = await h.emu.waitForMessage(result.channel_id, (m) => m.attachments.length > 0 && m.id !== result.id, 60_000, since);
  assert.equal(varied.attachments.length, 2);

  // Rerolls count against the per-member cap too.
  const held = h.holdGenerations();
  const reroll = h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE);
  assert.equal(await reroll.waitForAck(), 5);
  await held.reached(1);
  const again = await h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE).waitForReply();
  assert.ok((Number(again.flags ?? 0) & EPHEMERAL) !== 0);
  assert.match(again.content, /allows 1 image per member in the queue at once/);
  const cursor = h.emu.eventCursor();
  held.release();
  await h.emu.waitForMessage(result.channel_id, (m) => m.attachments.length > 0, 60_000, cursor);
  h.emu.assertNoViolations();
});

test('subjects: sharing can be kept to managers, and deleting a shared subject to its owner', async () => {
  const saved = await ephemeral(
    h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'subject', subcommand: 'save', options: { name: 'Rex', image1: h.emu.uploadAttachment(await photo('#a05020'), 'd.png', 'image/png', CHANNEL_A) } }),
  );
  assert.match(saved.content, /Saved \*\*Rex\*\*/);
  const subject = (sub: string, userId: string) =>
    ephemeral(h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'subject', subcommand: sub, options: { name: 'Rex' } }));

  await settings('subjects', { members_may_share: false, shared_delete: 'owner_only' });
  assert.match((await subject('share', ALICE)).content, /only members with Manage Server can share/);
  await settings('subjects', { members_may_share: true });
  assert.match((await subject('share', ALICE)).content, /now shared in this server/);

  assert.match((await subject('delete', CAROL)).content, /only its owner can delete \*\*Rex\*\*/);
  assert.equal(await h.deps.stores.subjects.count(ALICE), 1);
  const since = h.emu.eventCursor();
  assert.match((await subject('unshare', CAROL)).content, /no longer shared/);
  // A manager's action on a member's subject is never silent.
  const logged = await h.emu.waitForMessage(MODLOG, (m) => /Moderator action/.test(m.content), 5000, since);
  assert.match(logged.content, new RegExp(`by <@${CAROL}> \\(carol\\):\\n• Unshared <@${ALICE}>'s shared subject \\*\\*Rex\\*\\*`));
  assert.match((await subject('delete', ALICE)).content, /Deleted \*\*Rex\*\*/);
  assert.equal(h.emu.messages(MODLOG).filter((m) => /Moderator action/.test(m.content)).length, 1, "the owner's own delete is not logged");
  for (const b of modlogBodies) assert.deepEqual(b.allowed_mentions, { parse: [] });
  h.emu.assertNoViolations();
});

test("a manager deleting a member's image is logged to the mod log; the owner deleting their own is not", async () => {
  const since = h.emu.eventCursor();
  const started = await personalize(h, { userId: BOB, options: { prompt: 'a kite over the dunes' } });
  const { result } = await waitForThreadResult(h, since);
  assert.ok(started.jobId);
  const click = h.emu.clickButton(result.id, buttonId(result, 'delete'), CAROL);
  assert.equal((await click.waitForReply(10_000)).content, 'Deleted.');
  const logged = await h.emu.waitForMessage(MODLOG, (m) => /Deleted an image by/.test(m.content), 5000, since);
  assert.match(logged.content, new RegExp(`\\*\\*Moderator action\\*\\* by <@${CAROL}> \\(carol\\):\\n• Deleted an image by <@${BOB}> in <#\\d+>`));
  for (const b of modlogBodies) assert.deepEqual(b.allowed_mentions, { parse: [] });
  h.emu.assertNoViolations();
});

test('settings are per server: guild B keeps the defaults', async () => {
  const b = await getServerSettings(h.deps.stores, GUILD_B);
  assert.deepEqual([b.countMax, b.blockedPhrases, b.tracePublic], [4, [], true]);
  const a = await getServerSettings(h.deps.stores, GUILD_A);
  assert.equal(a.version, 1);
  assert.deepEqual([a.countMax, a.jobsPerUser, a.tracePublic, a.modLogChannel], [2, 1, false, MODLOG]);
});
