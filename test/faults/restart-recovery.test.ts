import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { GAVE_UP, RESUMED_NOTE } from '../../src/bot/restart-recovery.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CHANNEL_A, buttonId, personalize, startHarness, waitForMessageState, waitForThreadResult, type Harness } from '../e2e/harness.ts';

// One model slot; the bot is killed (harness.crash(): no drain, no notices, no record writes) mid-job.
let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const job = (id: string) => h.deps.stores.jobs.get(id);

/** The bot's reply to message `id` (after `since`) whose content matches. */
function replyTo(id: string, content: RegExp, since: number): Promise<APIMessage> {
  return h.emu.waitForMessage(CHANNEL_A, (m) => m.message_reference?.message_id === id && content.test(m.content), 30_000, since);
}

test('after kill -9, the running and the waiting job are resumed and their users told; Cancel on the old status works; the image is delivered', async () => {
  const hold = h.holdGenerations();
  const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a lighthouse at dusk' } });
  await hold.reached(1);
  const bob = await personalize(h, { userId: BOB, options: { prompt: 'a red tractor' } });
  await waitFor(async () => (await job(alice.jobId))?.statusMessage?.messageId === alice.status.id && (await job(bob.jobId))?.statusMessage?.messageId === bob.status.id);
  assert.deepEqual((await job(alice.jobId))?.statusMessage, { channelId: CHANNEL_A, messageId: alice.status.id, kind: 'interaction' });

  const since = h.emu.eventCursor();
  await h.crash();
  const held = h.holdGenerations();
  try {
    // Interaction replies cannot be edited without their token (never stored): the bot answers them.
    const aliceTold = await replyTo(alice.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
    const bobTold = await replyTo(bob.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
    assert.ok(buttonId(bobTold, 'cancel'));
    await held.reached(1);

    const click = h.emu.clickButton(bob.status.id, buttonId(bob.status, 'cancel'), BOB);
    assert.equal((await click.waitForReply()).content, 'Cancelled.');
    await waitForMessageState(h, bobTold.id, (m) => /^Cancelled/.test(m.content), 15_000, since);
    held.release();

    const { threadId, result } = await waitForThreadResult(h, since);
    assert.equal(threadId, alice.status.id, 'the thread starts from the original status');
    assert.match(result.content, /lighthouse at dusk/);
    await waitForMessageState(h, aliceTold.id, (m) => /^Done/.test(m.content), 15_000, since);
    // The status is settled first, then the record says done (a kill in between leaves it drawn, finished by the next start).
    await waitFor(async () => (await job(alice.jobId))?.status === 'done');
    const record = await job(alice.jobId);
    assert.equal(record?.status, 'done');
    assert.equal(record?.resumes, 1);
    assert.equal(record?.messageId, result.id);
    await waitFor(async () => (await job(bob.jobId))?.status === 'cancelled');
  } finally {
    held.release();
    await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);
  }
  h.emu.assertNoViolations();
});

test('a job the bot dies on twice is failed, not resumed again, and its user is told why', async () => {
  const hold = h.holdGenerations();
  const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a kite over the dunes' } });
  await hold.reached(1);
  await waitFor(async () => (await job(alice.jobId))?.statusMessage !== undefined);

  let since = h.emu.eventCursor();
  await h.crash();
  const again = h.holdGenerations();
  const told = await replyTo(alice.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
  await again.reached(1);
  // The status is now the bot's own message, which a later process edits.
  await waitFor(async () => (await job(alice.jobId))?.statusMessage?.messageId === told.id);
  assert.equal((await job(alice.jobId))?.statusMessage?.kind, 'bot');

  since = h.emu.eventCursor();
  await h.crash();
  const failed = await waitForMessageState(h, told.id, (m) => m.content === GAVE_UP, 30_000, since);
  assert.deepEqual(failed.components ?? [], []);
  await waitFor(async () => (await job(alice.jobId))?.status === 'failed');
  assert.equal((await job(alice.jobId))?.resumes, 1);
  assert.equal(h.deps.queue.waitingCount + h.deps.queue.runningCount, 0, 'not queued a third time');
  h.emu.assertNoViolations();
});

test('killed between showing the status and recording its place: the restarted bot finds the status by its Cancel button', async () => {
  const hold = h.holdGenerations();
  const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a snail on a leaf' } });
  await hold.reached(1);
  // As if the process died before its write of the status' place landed.
  await h.deps.stores.jobs.update(alice.jobId, { statusMessage: undefined });
  assert.equal((await job(alice.jobId))?.statusMessage, undefined);

  const since = h.emu.eventCursor();
  await h.crash();
  const told = await replyTo(alice.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
  const { threadId } = await waitForThreadResult(h, since);
  assert.equal(threadId, alice.status.id, 'the thread starts from the original status');
  await waitForMessageState(h, told.id, (m) => /^Done/.test(m.content), 15_000, since);
  await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);
  h.emu.assertNoViolations();
});

test('the loop guard blames only the job that was running at both deaths: a job that only waited through two kills is resumed and posted', async () => {
  const hold = h.holdGenerations();
  const alice = await personalize(h, { userId: ALICE, options: { prompt: 'a windmill in fog' } });
  await hold.reached(1);
  const bob = await personalize(h, { userId: BOB, options: { prompt: 'a tin robot' } });
  await waitFor(async () => (await job(alice.jobId))?.statusMessage !== undefined && (await job(bob.jobId))?.statusMessage !== undefined);
  assert.equal((await job(bob.jobId))?.status, 'queued');

  let since = h.emu.eventCursor();
  await h.crash();
  const again = h.holdGenerations();
  const aliceTold = await replyTo(alice.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
  await replyTo(bob.status.id, new RegExp(`^${RESUMED_NOTE}`), since);
  await again.reached(1);
  // Alice's job runs again (it was queued first); Bob's waits behind it, as before the first kill.
  await waitFor(async () => (await job(alice.jobId))?.status === 'running' && (await job(bob.jobId))?.status === 'queued');

  since = h.emu.eventCursor();
  await h.crash();
  await waitForMessageState(h, aliceTold.id, (m) => m.content === GAVE_UP, 30_000, since);
  const { result } = await waitForThreadResult(h, since);
  assert.match(result.content, /tin robot/);
  await waitFor(async () => (await job(bob.jobId))?.status === 'done');
  assert.equal((await job(bob.jobId))?.crashes, undefined, 'never blamed: it never ran when the bot died');
  assert.equal((await job(alice.jobId))?.status, 'failed');
  h.emu.assertNoViolations();
});
