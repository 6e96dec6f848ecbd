import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import {
  ALICE,
  BOB,
  CAROL,
  CHANNEL_A,
  GUILD_A,
  buttonId,
  customIds,
  personalize,
  startHarness,
  waitForMessageState,
  waitForThreadResult,
  type Harness,
} from './harness.ts';

// One model slot; at most 2 waiting jobs per user (the harness defaults). Prompts without photos keep
// each generation short.
let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

const content = (re: RegExp) => (m: { content: string }) => re.test(m.content);

test('cancel: a waiting job is cancelled from its status and never runs; a running one stops', async () => {
  const hold = h.holdGenerations();
  try {
    const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a lighthouse at dusk' } });
    await hold.reached(1);
    const bob = await personalize(h, { userId: BOB, options: { prompt: 'a red tractor' } });
    assert.match(bob.status.content, /position 1 of 1/);

    const notOwner = h.emu.clickButton(bob.status.id, buttonId(bob.status, 'cancel'), CAROL);
    assert.match((await notOwner.waitForReply()).content, /Only the person who made this image/);

    const click = h.emu.clickButton(bob.status.id, buttonId(bob.status, 'cancel'), BOB);
    const ack = await click.waitForReply();
    assert.equal(ack.flags! & 64, 64, 'answered only to Bob');
    const cancelled = await waitForMessageState(h, bob.status.id, content(/^Cancelled/));
    assert.deepEqual(customIds(cancelled), [], 'no Cancel button left');

    h.emu.clickButton(alice.status.id, buttonId(alice.status, 'cancel'), ALICE);
    await waitForMessageState(h, alice.status.id, content(/^Cancelled/));
    await waitFor(async () => (await h.deps.stores.jobs.get(alice.jobId))?.status === 'cancelled');

    const bobJob = await h.deps.stores.jobs.get(bob.jobId);
    assert.equal(bobJob?.status, 'cancelled');
    assert.equal(bobJob?.startedAt, undefined, "Bob's job never started");
    await waitFor(async () => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0);
  } finally {
    hold.release();
  }
  assert.deepEqual(h.emu.threads(CHANNEL_A), [], 'no result was posted');
  h.emu.assertNoViolations();
});

test('two users at once: fair order, positions in the status messages, /queue, and the per-user cap', async () => {
  const hold = h.holdGenerations();
  const since = h.emu.eventCursor();
  let a1, a2, a3, b1;
  try {
    a1 = await personalize(h, { userId: ALICE, options: { prompt: 'alice one' } });
    await hold.reached(1);
    a2 = await personalize(h, { userId: ALICE, options: { prompt: 'alice two' } });
    a3 = await personalize(h, { userId: ALICE, options: { prompt: 'alice three' } });
    b1 = await personalize(h, { userId: BOB, options: { prompt: 'bob one' } });

    // Bob has had nothing yet, so he goes before Alice's second and third.
    assert.match(b1.status.content, /position 1 of 3/);
    await waitForMessageState(h, a2.status.id, content(/position 2 of 3/), 15_000, since);
    await waitForMessageState(h, a3.status.id, content(/position 3 of 3/), 15_000, since);

    const bobQueue = await h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: BOB, name: 'queue' }).waitForReply();
    assert.equal(bobQueue.flags! & 64, 64);
    assert.match(bobQueue.content, /Drawing now: 1 of 1 at once · waiting: 3/);
    // Each job is named by its prompt, with a link to its status message.
    const link = (status: { id: string }) => `https://discord.com/channels/${GUILD_A}/${CHANNEL_A}/${status.id}`;
    assert.match(bobQueue.content, new RegExp(`“bob one” \\(status: ${link(b1.status)}\\) is number 1 in line`));
    const aliceQueue = await h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'queue' }).waitForReply();
    assert.match(aliceQueue.content, /“alice one” \(status: [^)]+\) is being drawn/);
    assert.match(aliceQueue.content, new RegExp(`“alice two” \\(status: ${link(a2.status)}\\) is number 2 in line[^]*“alice three” \\(status: ${link(a3.status)}\\) is number 3 in line`));
    assert.doesNotMatch(aliceQueue.content, new RegExp(a2.jobId));

    const recordsBefore = (await h.deps.stores.jobs.listByUser(ALICE)).length;
    const refused = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'alice four' } });
    // Refused before the public reply (checkAdmission): the answer is the ephemeral reply itself.
    const refusal = await refused.waitForReply();
    assert.equal(refusal.flags! & 64, 64, 'answered only to Alice');
    assert.match(refusal.content, /You already have 2 images waiting; wait for one to finish\./);
    // Refused before anything was stored: no new job record.
    assert.equal((await h.deps.stores.jobs.listByUser(ALICE)).length, recordsBefore);
  } finally {
    hold.release();
  }
  // Four results, each in its thread, started in the fair order.
  const jobs = async () => Promise.all([a1, b1, a2, a3].map(async (s) => (await h.deps.stores.jobs.get(s!.jobId))!));
  await waitFor(async () => (await jobs()).every((j) => j.status === 'done' && j.messageId), 90_000);
  const started = (await jobs()).map((j) => j.startedAt!);
  assert.ok(started[0] < started[1] && started[1] < started[2] && started[2] < started[3], `start order ${started}`);
  assert.equal(h.emu.threads(CHANNEL_A).length, 4);
  h.emu.assertNoViolations();
});

test('a result ready after the 15-minute interaction token is posted with the bot token', async () => {
  const hold = h.holdGenerations();
  let bob;
  const since = h.emu.eventCursor();
  try {
    const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a long wait' } });
    await hold.reached(1);
    bob = await personalize(h, { userId: BOB, options: { prompt: 'a castle made of cheese' } });
    h.emu.advanceTime(16 * 60_000);
    // Alice gives up: Bob's job starts well after his interaction token expired.
    h.emu.clickButton(alice.status.id, buttonId(alice.status, 'cancel'), ALICE);
  } finally {
    hold.release();
  }
  const { threadId, result } = await waitForThreadResult(h, since);
  assert.equal(threadId, bob.status.id, 'the thread hangs off Bob’s /personalize reply');
  assert.match(result.content, /castle made of cheese/);
  // The status goes on in a message of the bot's own, answering the old reply.
  const done = await h.emu.waitForMessage(CHANNEL_A, (m) => /^Done/.test(m.content) && m.message_reference?.message_id === bob.status.id, 30_000, since);
  assert.equal(done.webhook_id, undefined);
  h.emu.assertNoViolations();
});

test('graceful shutdown tells users whose jobs were waiting, lets the running one finish', async () => {
  const hold = h.holdGenerations();
  const since = h.emu.eventCursor();
  const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a quiet harbour' } });
  await hold.reached(1);
  const bob = await personalize(h, { userId: BOB, options: { prompt: 'a busy market' } });
  const stopping = h.bot.stop(60_000);
  const told = await waitForMessageState(h, bob.status.id, content(/^Cancelled/), 15_000, since);
  assert.match(told.content, /restarting/);
  hold.release();
  await stopping;
  const { result } = await waitForThreadResult(h, since, 1000);
  assert.match(result.content, /quiet harbour/);
  assert.equal((await h.deps.stores.jobs.get(alice.jobId))?.status, 'done');
  assert.equal((await h.deps.stores.jobs.get(bob.jobId))?.status, 'cancelled');
  h.emu.assertNoViolations();
  await h.restart();
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
