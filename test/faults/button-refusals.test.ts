import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CHANNEL_A, buttonId, personalize, startHarness, waitForThreadResult, type Harness } from '../e2e/harness.ts';

// One model slot; at most 2 waiting jobs per user (the harness defaults).
let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

const EPHEMERAL = 64;

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Messages created or edited in `channelId` after `since` that everyone can see. */
function publicMessages(channelId: string, since: number): APIMessage[] {
  return h.emu
    .eventHistory()
    .slice(since)
    .filter((e) => (e.kind === 'message_create' || e.kind === 'message_update') && e.channelId === channelId)
    .map((e) => (e as { message: unknown }).message as APIMessage)
    .filter((m) => ((m.flags ?? 0) & EPHEMERAL) === 0);
}

test('rapid Regenerate clicks beyond the user cap leave no public refusal in the thread and each refused click gets an ephemeral answer', async () => {
  const start = h.emu.eventCursor();
  await personalize(h, { userId: ALICE, options: { prompt: 'a paper boat on a pond' } });
  const { threadId, result } = await waitForThreadResult(h, start);
  await waitFor(() => h.deps.queue.runningCount === 0);

  const hold = h.holdGenerations();
  try {
    const since = h.emu.eventCursor();
    const clicks = Array.from({ length: 12 }, () => h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE));
    const acks = await Promise.all(clicks.map((c) => c.waitForAck(10_000)));
    // One starts at once, two wait (the cap); the other nine are refused.
    assert.equal(acks.filter((a) => a === 5).length, 3, `acks: ${acks.join()}`);
    const refused = clicks.filter((_, i) => acks[i] !== 5);
    assert.equal(refused.length, 9);
    for (const click of refused) {
      assert.equal(click.callbackType, 4, 'a refusal is a direct reply, not a deferred public one');
      const reply = await click.waitForReply();
      assert.equal((reply.flags ?? 0) & EPHEMERAL, EPHEMERAL, `answered only to the clicker: ${reply.content}`);
      assert.match(reply.content, /already have 2 images waiting/);
    }
    await hold.reached(1);
    const seen = publicMessages(threadId, since);
    const refusals = seen.filter((m) => /waiting; wait|queue is full|in the queue; try again|already have/i.test(m.content));
    assert.deepEqual(refusals.map((m) => m.content), [], 'no public refusal in the thread');
    assert.deepEqual(h.emu.messages(threadId).filter((m) => /already have/.test(m.content) && ((m.flags ?? 0) & EPHEMERAL) === 0), []);
  } finally {
    hold.release();
    await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);
  }
  h.emu.assertNoViolations();
});

test('20 rapid Cancel clicks on one waiting job: exactly one says Cancelled, the rest already cancelled, none mention a restart', async () => {
  const hold = h.holdGenerations();
  try {
    await personalize(h, { userId: ALICE, options: { prompt: 'a lighthouse at dusk' } });
    await hold.reached(1);
    const bob = await personalize(h, { userId: BOB, channelId: CHANNEL_A, options: { prompt: 'a red tractor' } });
    assert.match(bob.status.content, /position 1 of 1/);

    const clicks = Array.from({ length: 20 }, () => h.emu.clickButton(bob.status.id, buttonId(bob.status, 'cancel'), BOB));
    const replies = await Promise.all(clicks.map((c) => c.waitForReply(10_000)));
    const texts = replies.map((r) => r.content);
    for (const r of replies) assert.equal((r.flags ?? 0) & EPHEMERAL, EPHEMERAL, 'answered only to Bob');
    assert.equal(texts.filter((t) => t === 'Cancelled.').length, 1, texts.join(' | '));
    assert.equal(texts.filter((t) => t === 'Already cancelled.').length, 19, texts.join(' | '));
    assert.ok(!texts.some((t) => /restart/i.test(t)), texts.join(' | '));
    await waitFor(async () => (await h.deps.stores.jobs.get(bob.jobId))?.status === 'cancelled');
  } finally {
    hold.release();
    await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);
  }
  h.emu.assertNoViolations();
});
