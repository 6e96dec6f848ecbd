import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import sharp from 'sharp';
import type { InteractionHandle } from '../../src/local-discord/interaction-handle.ts';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, startHarness, type Harness } from './harness.ts';

const EPHEMERAL = 1 << 6;
const MAX_PHOTO_BYTES = 2 ** 20;
const CHANNEL_OF: Record<string, string> = { [GUILD_A]: CHANNEL_A, [GUILD_B]: CHANNEL_B };

let h: Harness;
/** Alice's subject, once saved. */
let rexId = '';

before(async () => {
  h = await startHarness({ config: { maxPhotoBytes: MAX_PHOTO_BYTES } });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function photo(color: string): Promise<Buffer> {
  return sharp({ create: { width: 160, height: 120, channels: 3, background: color } }).png().toBuffer();
}

/** Random pixels: PNG cannot compress them, so the file is about 3 bytes per pixel. */
async function noise(side: number): Promise<Buffer> {
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

function upload(bytes: Buffer, name: string, type = 'image/png') {
  return h.emu.uploadAttachment(bytes, name, type, CHANNEL_A);
}

/** Runs /subject <sub> and returns its (ephemeral) answer. */
async function subject(userId: string, guildId: string, sub: string, options: Record<string, OptionValue> = {}): Promise<APIMessage> {
  const run = h.emu.runSlashCommand({ guildId, channelId: CHANNEL_OF[guildId], userId, name: 'subject', subcommand: sub, options });
  const reply = await run.waitForReply(15_000);
  assert.ok((Number(reply.flags ?? 0) & EPHEMERAL) !== 0, `/subject ${sub} answered ephemerally: ${reply.content}`);
  return reply;
}

function choices(userId: string, guildId: string, typed: string, sub = 'show') {
  return h.emu.autocomplete({ guildId, channelId: CHANNEL_OF[guildId], userId, name: 'subject', subcommand: sub, options: { name: typed }, focused: 'name' });
}

/** /personalize with a saved subject; resolves with the result posted in the new thread. */
async function personalizeWith(userId: string, subjectValue: string, prompt: string): Promise<APIMessage> {
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'personalize', options: { prompt, subject: subjectValue, seed: 3 } });
  assert.equal(await run.waitForAck(), 5);
  const event = await h.emu.waitFor((e) => e.kind === 'thread_create', 30_000, since);
  assert.ok(event.kind === 'thread_create');
  const result = await h.emu.waitForMessage(String(event.thread.id), (m) => m.attachments.length > 0, 30_000, since);
  assert.equal(result.attachments.length, 1);
  return result;
}

/** The first state of an interaction's reply whose content matches. */
async function replyMatching(run: InteractionHandle, pattern: RegExp, timeoutMs = 15_000): Promise<APIMessage> {
  for (let i = 1; ; i++) {
    const reply = await run.waitForReplyCount(i, timeoutMs);
    if (pattern.test(reply.content)) return reply;
  }
}

test('bad photos for /subject save get a clear ephemeral answer and nothing is stored', async () => {
  const cases: [Record<string, OptionValue>, RegExp][] = [
    [{ image1: upload(Buffer.from('just some notes\n'), 'notes.txt', 'text/plain') }, /notes\.txt.*(not|unsupported|image)/i],
    [{ image1: upload((await noise(200)).subarray(0, 30_000), 'broken.png') }, /broken\.png.*damaged/i],
    [{ image1: upload(await noise(700), 'huge.png') }, /huge\.png is larger than 1 MiB/],
    [{ image1: upload(await photo('#a05020'), 'good.png'), image2: upload((await noise(200)).subarray(0, 30_000), 'bad2.png') }, /bad2\.png.*damaged/i],
  ];
  for (const [images, expected] of cases) {
    const reply = await subject(ALICE, GUILD_A, 'save', { name: 'Rex', ...images });
    assert.match(reply.content, expected);
    assert.equal(reply.attachments.length, 0);
  }
  assert.match((await subject(ALICE, GUILD_A, 'list')).content, /no saved subjects/);
  assert.equal(await h.deps.stores.subjects.count(ALICE), 0);
  assert.equal(await h.deps.stores.photos.count(), 0);
  h.emu.assertNoViolations();
});

test('Alice saves a subject with two photos, lists it and gets its photos back', async () => {
  const saved = await subject(ALICE, GUILD_A, 'save', {
    name: 'Rex',
    image1: upload(await photo('#a05020'), 'dog1.png'),
    image2: upload(await sharp(await photo('#b06030')).jpeg().toBuffer(), 'dog2.jpg', 'image/jpeg'),
    context: 'a small brown dog',
  });
  assert.match(saved.content, /Saved \*\*Rex\*\* with 2 photos/);
  const again = await subject(ALICE, GUILD_A, 'save', { name: 'rex', image1: upload(await photo('#000000'), 'x.png') });
  assert.match(again.content, /already have a subject named “Rex”/);
  const [stored] = await h.deps.stores.subjects.list(ALICE, GUILD_A);
  rexId = stored.id;
  assert.equal(stored.photoHashes.length, 2);

  const list = await subject(ALICE, GUILD_A, 'list');
  assert.match(list.content, /\*\*Rex\*\*: 2 photos · private/);
  assert.ok(list.content.length <= 2000);

  const shown = await subject(ALICE, GUILD_A, 'show', { name: rexId });
  assert.match(shown.content, /Rex.*yours · private/);
  assert.match(shown.content, /2 photos/);
  assert.match(shown.content, /a small brown dog/);
  assert.equal(shown.attachments.length, 2);
  for (const a of shown.attachments) {
    const meta = await sharp(h.emu.fileBytes(a)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 160, 120]);
  }
  // By name too, whatever the case.
  assert.equal((await subject(ALICE, GUILD_A, 'show', { name: 'rex' })).attachments.length, 2);
  h.emu.assertNoViolations();
});

test('autocomplete offers the subject to its owner only', async () => {
  assert.deepEqual(await choices(ALICE, GUILD_A, 'r'), [{ name: 'Rex', value: rexId }]);
  assert.deepEqual(await choices(ALICE, GUILD_A, ''), [{ name: 'Rex', value: rexId }]);
  assert.deepEqual(await choices(ALICE, GUILD_A, 'zzz'), []);
  assert.deepEqual(await choices(BOB, GUILD_A, ''), []);
  h.emu.assertNoViolations();
});

test('/personalize uses the saved subject; the second time stage 1 comes from the cache', async () => {
  const first = await personalizeWith(ALICE, rexId, 'Rex on the moon');
  assert.match(first.content, /Rex on the moon/);
  assert.match(first.content, /grounding \d/);
  const second = await personalizeWith(ALICE, 'Rex', 'Rex at the beach');
  assert.match(second.content, /grounding cached/);
  h.emu.assertNoViolations();
});

test('a shared subject: Bob can see and use it in that server, but not delete or unshare it', async () => {
  assert.match((await subject(ALICE, GUILD_A, 'share', { name: rexId })).content, /Rex\*\* is now shared in this server/);
  assert.match((await subject(ALICE, GUILD_A, 'share', { name: rexId })).content, /already shared/);
  assert.match((await subject(ALICE, GUILD_A, 'list')).content, /\*\*Rex\*\*: 2 photos · shared in this server/);

  const bobList = await subject(BOB, GUILD_A, 'list');
  assert.match(bobList.content, new RegExp(`Shared in this server by others\\*\\*\\n• \\*\\*Rex\\*\\* by <@${ALICE}>: 2 photos`));
  assert.deepEqual((await choices(BOB, GUILD_A, 're')).map((c) => c.value), [rexId]);
  const bobShow = await subject(BOB, GUILD_A, 'show', { name: rexId });
  assert.match(bobShow.content, /shared in this server by/);
  assert.equal(bobShow.attachments.length, 2);

  const bobs = await personalizeWith(BOB, rexId, 'Rex in a hat');
  assert.match(bobs.content, /Rex in a hat/);

  for (const sub of ['delete', 'unshare']) {
    assert.match((await subject(BOB, GUILD_A, sub, { name: rexId })).content, /belongs to someone else; only they or a member with Manage Server can/);
  }
  assert.match((await subject(BOB, GUILD_A, 'rename', { name: rexId, new_name: 'Mine' })).content, /belongs to someone else/);
  assert.match((await subject(BOB, GUILD_A, 'share', { name: rexId })).content, /belongs to someone else/);
  const still = await h.deps.stores.subjects.get(ALICE, null, rexId);
  assert.deepEqual([still.name, still.sharedIn], ['Rex', GUILD_A]);
  h.emu.assertNoViolations();
});

test('in another server the subject is not shared: Bob does not see it, Alice sees it as her own', async () => {
  assert.match((await subject(BOB, GUILD_B, 'list')).content, /no saved subjects/);
  assert.deepEqual(await choices(BOB, GUILD_B, ''), []);
  assert.match((await subject(BOB, GUILD_B, 'show', { name: rexId })).content, /deleted or is not shared in this server/);
  assert.match((await subject(BOB, GUILD_B, 'show', { name: 'Rex' })).content, /You have no subject named “Rex”/);
  const run = h.emu.runSlashCommand({ guildId: GUILD_B, channelId: CHANNEL_B, userId: BOB, name: 'personalize', options: { prompt: 'Rex again', subject: rexId } });
  assert.match((await run.waitForFollowUp(0, 15_000)).content, /deleted or is not shared in this server/);

  const aliceList = await subject(ALICE, GUILD_B, 'list');
  assert.match(aliceList.content, /\*\*Rex\*\*: 2 photos · shared in another server/);
  assert.doesNotMatch(aliceList.content, /shared in this server|by others/);
  assert.deepEqual(await choices(ALICE, GUILD_B, ''), [{ name: 'Rex', value: rexId }]);
  h.emu.assertNoViolations();
});

test('Carol (Manage Server) can unshare it; the owner renames, edits and deletes it', async () => {
  assert.match((await subject(CAROL, GUILD_A, 'unshare', { name: rexId })).content, /Rex\*\* is no longer shared/);
  assert.match((await subject(BOB, GUILD_A, 'list')).content, /no saved subjects/);
  assert.deepEqual(await choices(BOB, GUILD_A, ''), []);
  assert.match((await subject(ALICE, GUILD_A, 'list')).content, /\*\*Rex\*\*: 2 photos · private/);
  // Not shared any more, so Manage Server no longer lets Carol delete it.
  assert.match((await subject(CAROL, GUILD_A, 'delete', { name: rexId })).content, /deleted or is not shared in this server/);

  assert.match((await subject(ALICE, GUILD_A, 'rename', { name: rexId, new_name: '  Rexy  ' })).content, /Renamed \*\*Rex\*\* to \*\*Rexy\*\*/);
  assert.match((await subject(ALICE, GUILD_A, 'context', { name: 'rexy', text: 'wears a red collar' })).content, /Updated the context of \*\*Rexy\*\*/);
  assert.match((await subject(ALICE, GUILD_A, 'show', { name: rexId })).content, /wears a red collar/);
  assert.match((await subject(ALICE, GUILD_A, 'context', { name: rexId })).content, /Cleared the context/);
  assert.equal((await h.deps.stores.subjects.get(ALICE, null, rexId)).context, undefined);
  assert.match((await subject(ALICE, GUILD_A, 'rename', { name: 'Nope', new_name: 'X' })).content, /no subject named “Nope”/);

  assert.match((await subject(ALICE, GUILD_A, 'delete', { name: 'Rexy' })).content, /Deleted \*\*Rexy\*\*/);
  assert.match((await subject(ALICE, GUILD_A, 'list')).content, /no saved subjects/);
  assert.deepEqual(await choices(ALICE, GUILD_A, ''), []);
  h.emu.assertNoViolations();
});

test('forget-me explains, then deletes the user’s subjects and job records and cancels their queued image; Bob keeps his', async () => {
  const { stores, queue } = h.deps;
  await subject(ALICE, GUILD_A, 'save', { name: 'Mia', image1: upload(await photo('#303030'), 'cat.png') });
  await subject(ALICE, GUILD_A, 'save', { name: 'Tom', image1: upload(await photo('#707070'), 'cat2.png') });
  await subject(ALICE, GUILD_A, 'share', { name: 'Mia' });
  await subject(BOB, GUILD_A, 'save', { name: 'Bo', image1: upload(await photo('#2050a0'), 'bo.png') });
  const aliceJobs = (await stores.jobs.listByUser(ALICE)).length;
  assert.ok(aliceJobs >= 2);
  const bobJobs = (await stores.jobs.listByUser(BOB)).length;
  assert.ok(bobJobs >= 1);

  // Someone else's job holds the only slot, so Alice's next image waits in the queue.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const blocker = queue.submit({ id: 'blocker', userId: '1300000000000000099', guildId: null, run: () => held });
  try {
    const waiting = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a quiet street' } });
    await replyMatching(waiting, /In the queue/);

    const preview = await subject(ALICE, GUILD_A, 'forget-me', { confirm: false });
    assert.match(preview.content, /2 saved subjects/);
    assert.match(preview.content, new RegExp(`${aliceJobs + 1} image records`));
    assert.match(preview.content, /cancel 1 image in the queue/);
    assert.match(preview.content, /confirm:True/);
    assert.equal(await stores.subjects.count(ALICE), 2, 'nothing deleted without confirm');

    const done = await subject(ALICE, GUILD_A, 'forget-me', { confirm: true });
    assert.match(done.content, new RegExp(`Deleted 2 subjects, ${aliceJobs + 1} image records, \\d+ photos?, \\d+ cached descriptions?; cancelled 1 image in the queue`));
    assert.match((await replyMatching(waiting, /Cancelled/)).content, /forget your data/);
  } finally {
    release();
    await blocker.result;
  }

  assert.equal(await stores.subjects.count(ALICE), 0);
  assert.deepEqual(await stores.jobs.listByUser(ALICE), []);
  assert.deepEqual(await stores.subjects.list(BOB, GUILD_A).then((l) => l.map((s) => s.name)), ['Bo']);
  assert.equal((await stores.jobs.listByUser(BOB)).length, bobJobs);
  assert.match((await subject(ALICE, GUILD_A, 'list')).content, /no saved subjects/);
  assert.doesNotMatch((await subject(BOB, GUILD_A, 'list')).content, /Mia/);
  h.emu.assertNoViolations();
});
