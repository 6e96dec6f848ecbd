import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import sharp from 'sharp';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { describe, missing, photoNeedles, scan, total, type Needle } from '../helpers/byte-scan.ts';
import { CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, startHarness, type Harness } from '../e2e/harness.ts';

// /subject forget-me through the real bot and store: nothing of the user is left in the data folder, while
// the bot keeps running and after it restarts; another member's image made with the user's shared
// subject stays, without the subject's name and context.

const ALICE = '417250098765432101';
const BOB = '528361109876543212';
const EPHEMERAL = 1 << 6;

const ALICE_TEXT = {
  name: 'Quillon Vexaby',
  context: 'qv-context: wears a brass monocle on Tuesdays',
  prompt: 'alice prompt: a heron reading the newspaper',
  refinement: 'alice refinement: now under a violet moon',
};
const BOB_PROMPT = 'bob prompt: a lighthouse in a snow globe';

let h: Harness;

before(async () => {
  h = await startHarness({
    guilds: [
      { id: GUILD_A, name: 'Pets', channels: [{ id: CHANNEL_A, name: 'art' }], members: [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }] },
      { id: GUILD_B, name: 'Other', channels: [{ id: CHANNEL_B, name: 'general' }], members: [] },
    ],
  });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

/** Seeded noise: PNG cannot compress it, so its stored bytes are unique to it. */
async function noisePhoto(seed: string): Promise<Buffer> {
  const side = 96;
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < side * side * 3; i++) blocks.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return sharp(Buffer.concat(blocks).subarray(0, side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
}

async function subject(userId: string, sub: string, options: Record<string, OptionValue>): Promise<APIMessage> {
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'subject', subcommand: sub, options });
  const reply = await run.waitForReply(30_000);
  assert.ok((Number(reply.flags ?? 0) & EPHEMERAL) !== 0, `/subject ${sub}: ${reply.content}`);
  return reply;
}

/** /personalize with a saved subject; resolves with the new thread's id once the image is posted there. */
async function personalize(userId: string, subjectName: string, prompt: string): Promise<string> {
  const since = h.emu.eventCursor();
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'personalize', options: { prompt, subject: subjectName, seed: 3 } });
  const event = await h.emu.waitFor((e) => e.kind === 'thread_create', 60_000, since);
  assert.ok(event.kind === 'thread_create');
  const threadId = String(event.thread.id);
  await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 120_000, since);
  return threadId;
}

test('/subject forget-me leaves nothing of the user in the data folder, running and after a restart', async (t) => {
  const photo = await noisePhoto('alice');
  const saved = await subject(ALICE, 'save', {
    name: ALICE_TEXT.name,
    context: ALICE_TEXT.context,
    image1: h.emu.uploadAttachment(photo, 'me.png', 'image/png', CHANNEL_A),
  });
  assert.match(saved.content, /Saved/);
  await subject(ALICE, 'share', { name: ALICE_TEXT.name });

  const thread = await personalize(ALICE, ALICE_TEXT.name, ALICE_TEXT.prompt);
  const since = h.emu.eventCursor();
  h.emu.postMessage(thread, ALICE, ALICE_TEXT.refinement);
  await h.emu.waitForMessage(thread, (m) => m.attachments.length > 0, 120_000, since);
  await personalize(BOB, ALICE_TEXT.name, BOB_PROMPT);

  const needles: Needle[] = [
    { label: 'Alice id', bytes: Buffer.from(ALICE) },
    ...Object.entries(ALICE_TEXT).map(([k, v]) => ({ label: k, bytes: Buffer.from(v) })),
    ...(await photoNeedles('photo', photo)),
  ];
  const dataDir = h.config.dataDir;
  const before = await scan(dataDir, needles);
  t.diagnostic(`Alice's bytes before forget-me: ${total(before)}`);
  assert.deepEqual(missing(needles, before), []);

  const done = await subject(ALICE, 'forget-me', { confirm: true });
  assert.match(done.content, /^Done\. Deleted 1 subject, 2 image records/);
  const running = await scan(dataDir, needles);
  t.diagnostic(`Alice's bytes after forget-me, bot running: ${total(running)}`);
  assert.equal(total(running), 0, describe(running));

  await h.restart();
  const restarted = await scan(dataDir, needles);
  assert.equal(total(restarted), 0, describe(restarted));
  const [bobJob] = await h.deps.stores.jobs.listByUser(BOB);
  assert.equal(bobJob?.prompt, BOB_PROMPT);
  assert.equal(bobJob?.name, undefined);
  assert.equal(bobJob?.context, undefined);
  assert.deepEqual(await h.deps.stores.jobs.listByUser(ALICE), []);
  h.emu.assertNoViolations();
});

test('/subject forget-me while a drawn image waits to be posted (thread creation rate-limited 9 s): no byte of the user is written back when the posting goes on, running and after a restart', async (t) => {
  const photo = await noisePhoto('carol');
  const CAROL = '639472210987654323';
  h.emu.addMember(GUILD_A, CAROL, { username: 'carol' });
  const text = { name: 'Zephrine Oddwick', context: 'zo-context: hums sea shanties', prompt: 'carol prompt: a teapot sailing a canal' };
  await subject(CAROL, 'save', { name: text.name, context: text.context, image1: h.emu.uploadAttachment(photo, 'c.png', 'image/png', CHANNEL_A) });
  // The result's thread is held up 9 s by a rate limit, so the drawn image is still being posted when forget-me runs.
  h.emu.forceRateLimit({ method: 'POST', path: /^\/channels\/\d+\/messages\/\d+\/threads$/, retryAfterMs: 9_000 });
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'personalize', options: { prompt: text.prompt, subject: text.name, seed: 5 } });
  await run.waitForReply(30_000);
  const deadline = Date.now() + 60_000;
  // Drawn (its images kept with the record), not posted: the thread is held.
  while ((await h.deps.stores.jobs.listByUser(CAROL))[0]?.grounding === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await h.deps.stores.jobs.listByUser(CAROL))[0]?.messageId, undefined, 'not posted yet');

  const done = await subject(CAROL, 'forget-me', { confirm: true });
  assert.match(done.content, /^Done\. Deleted 1 subject, 1 image record/);
  // Past the held thread creation: whatever the posting did next has happened.
  await new Promise((r) => setTimeout(r, 10_000));
  const needles: Needle[] = [
    { label: 'Carol id', bytes: Buffer.from(CAROL) },
    ...Object.entries(text).map(([k, v]) => ({ label: k, bytes: Buffer.from(v) })),
    ...(await photoNeedles('photo', photo)),
  ];
  const running = await scan(h.config.dataDir, needles);
  t.diagnostic(`Carol's bytes after forget-me during posting, bot running: ${total(running)}`);
  assert.equal(total(running), 0, describe(running));
  const posted = h.emu.eventHistory().slice(since).filter((e) => e.kind === 'message_create' && Array.isArray(e.message.attachments) && e.message.attachments.length > 0);
  assert.equal(posted.length, 0, 'the forgotten job was not posted');
  await h.restart();
  const restarted = await scan(h.config.dataDir, needles);
  assert.equal(total(restarted), 0, describe(restarted));
  h.emu.assertNoViolations();
});
