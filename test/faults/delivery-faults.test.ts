import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { KEPT_MESSAGE, KEPT_NOTE } from '../../src/bot/delivery/keep-result.ts';
import type { JobPatch } from '../../src/store/job-record.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, GUILD_A, buttonId, personalize, startHarness, waitForMessageState, waitForThreadResult, type Harness } from '../e2e/harness.ts';

// Discord failing while a finished image is posted: no image may be lost, no status left stale.
let h: Harness;

before(async () => {
  h = await startHarness();
});

afterEach(() => h.emu.stopFailingRequests());

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

const POST_MESSAGE = { method: 'POST', route: /^\/channels\/\d+\/messages$/ } as const;
const job = (id: string) => h.deps.stores.jobs.get(id);
const idle = () => waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);

test('uploads to the thread fail more often than discord.js retries: our back-off outlasts them and the image lands in the thread', async () => {
  const since = h.emu.eventCursor();
  const fault = h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: 6, onlyWithFiles: true });
  const { status, jobId } = await personalize(h, { options: { prompt: 'a tin robot' } });
  const { result } = await waitForThreadResult(h, since);
  assert.equal(fault.hits, 6);
  await waitForMessageState(h, status.id, (m) => /^Done/.test(m.content), 15_000, since);
  // The status is settled, then the record says where the image is.
  await waitFor(async () => (await job(jobId))?.messageId === result.id);
  await idle();
  h.emu.assertNoViolations();
});

test('a thread post that keeps failing (502 on every upload): the image goes in the status message, and the thread says where it is', async () => {
  const since = h.emu.eventCursor();
  h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: Infinity, onlyWithFiles: true });
  const { status, jobId } = await personalize(h, { options: { prompt: 'a paper crane' } });
  const shown = await waitForMessageState(h, status.id, (m) => m.attachments.length > 0, 60_000, since);
  assert.match(shown.content, /paper crane/);
  const thread = h.emu.threads(CHANNEL_A).find((t) => t.id === status.id);
  assert.ok(thread, 'the thread was started');
  // The thread is not left empty.
  await h.emu.waitForMessage(thread.id, (m) => /in the message this thread starts from/.test(m.content), 15_000, since);
  await waitFor(async () => (await job(jobId))?.status === 'done');
  const record = await job(jobId);
  assert.equal(record?.status, 'done');
  assert.equal(record?.messageId, status.id);
  assert.equal(await h.deps.stores.jobs.keptResult(jobId), undefined);
  await idle();
  h.emu.assertNoViolations();
});

test('a Regenerate whose post in the thread keeps failing shows the image in its own status there, with no note about a thread start', async () => {
  const since = h.emu.eventCursor();
  await personalize(h, { options: { prompt: 'a felt fox' } });
  const { threadId, result } = await waitForThreadResult(h, since);
  await idle();

  const later = h.emu.eventCursor();
  h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: Infinity, onlyWithFiles: true });
  const click = h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE);
  const status = await click.waitForReply(30_000);
  const shown = await waitForMessageState(h, status.id, (m) => m.attachments.length > 0, 60_000, later);
  assert.equal(shown.channel_id, threadId);
  const regenId = buttonId(status, 'cancel').split(':')[2];
  await waitFor(async () => (await job(regenId))?.messageId === status.id);
  // A note would follow the record's update at once.
  await new Promise((r) => setTimeout(r, 500));
  await idle();
  const notes = h.emu.messages(threadId).filter((m) => /thread starts from|Discord kept refusing/.test(m.content));
  assert.deepEqual(notes.map((m) => m.content), []);
  h.emu.assertNoViolations();
});

test('Discord refuses every upload everywhere: the image is kept, the user told, and it is posted in its thread after a restart', async () => {
  const since = h.emu.eventCursor();
  h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: Infinity, onlyWithFiles: true });
  h.emu.failRequests({ method: 'PATCH', route: /^\/(webhooks|channels)\//, status: 502, times: Infinity, onlyWithFiles: true });
  const { status, jobId } = await personalize(h, { options: { prompt: 'a glass whale' } });
  await waitForMessageState(h, status.id, (m) => m.content === KEPT_MESSAGE, 60_000, since);
  const kept = await h.deps.stores.jobs.keptResult(jobId);
  assert.ok(kept, 'the image is in the store');
  assert.equal(kept.threadId, status.id);
  await h.emu.waitForMessage(status.id, (m) => m.content === KEPT_NOTE, 15_000, since);
  await idle();

  h.emu.stopFailingRequests();
  const later = h.emu.eventCursor();
  await h.restart();
  const result = await h.emu.waitForMessage(status.id, (m) => m.attachments.length > 0, 60_000, later);
  assert.match(result.content, /glass whale/);
  const done = await h.emu.waitForMessage(CHANNEL_A, (m) => m.message_reference?.message_id === status.id && /^Done/.test(m.content), 15_000, later);
  assert.ok(done);
  await waitFor(async () => (await h.deps.stores.jobs.keptResult(jobId)) === undefined);
  const record = await job(jobId);
  assert.equal(record?.status, 'done');
  assert.equal(record?.messageId, result.id);
  h.emu.assertNoViolations();
});

test('a kept image is posted again by the running bot once Discord takes uploads again, no restart needed', async () => {
  h.deps.redeliveryDelaysMs = [1500];
  try {
    const since = h.emu.eventCursor();
    h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: Infinity, onlyWithFiles: true });
    h.emu.failRequests({ method: 'PATCH', route: /^\/(webhooks|channels)\//, status: 502, times: Infinity, onlyWithFiles: true });
    const { status, jobId } = await personalize(h, { options: { prompt: 'a velvet moth' } });
    await waitForMessageState(h, status.id, (m) => m.content === KEPT_MESSAGE, 60_000, since);
    h.emu.stopFailingRequests();
    const result = await h.emu.waitForMessage(status.id, (m) => m.attachments.length > 0, 30_000, since);
    assert.match(result.content, /velvet moth/);
    await waitFor(async () => (await h.deps.stores.jobs.keptResult(jobId)) === undefined && (await job(jobId))?.messageId === result.id);
  } finally {
    h.deps.redeliveryDelaysMs = undefined;
  }
  await idle();
  h.emu.assertNoViolations();
});

test('Post again under a kept image: refused while Discord still fails (told to the clicker alone), posted once it takes uploads', async () => {
  const since = h.emu.eventCursor();
  h.emu.failRequests({ ...POST_MESSAGE, status: 502, times: Infinity, onlyWithFiles: true });
  h.emu.failRequests({ method: 'PATCH', route: /^\/(webhooks|channels)\//, status: 502, times: Infinity, onlyWithFiles: true });
  const { status, jobId } = await personalize(h, { options: { prompt: 'a clay teapot' } });
  const kept = await waitForMessageState(h, status.id, (m) => m.content === KEPT_MESSAGE, 60_000, since);
  await idle();

  const first = h.emu.clickButton(status.id, buttonId(kept, 'repost'), ALICE);
  const refused = await first.waitForReply(30_000);
  await waitForMessageState(h, refused.id, (m) => /still refuses/.test(m.content), 30_000, since);
  assert.ok(await h.deps.stores.jobs.keptResult(jobId));

  h.emu.stopFailingRequests();
  const later = h.emu.eventCursor();
  const second = h.emu.clickButton(status.id, buttonId(kept, 'repost'), ALICE);
  const answer = await second.waitForReply(30_000);
  assert.equal((answer.flags ?? 0) & 64, 64, 'ephemeral');
  await waitForMessageState(h, answer.id, (m) => m.content === 'Posted.', 30_000, later);
  const result = await h.emu.waitForMessage(status.id, (m) => m.attachments.length > 0, 15_000, later);
  assert.match(result.content, /clay teapot/);
  assert.equal(await h.deps.stores.jobs.keptResult(jobId), undefined);

  const third = h.emu.clickButton(status.id, buttonId(kept, 'repost'), ALICE);
  const already = await third.waitForReply(30_000);
  await waitForMessageState(h, already.id, (m) => /posted already/.test(m.content), 30_000, later);
  h.emu.assertNoViolations();
});

test('the store fails the `drawn` write after drawing: the image is posted anyway and the record made good', async () => {
  const jobs = h.deps.stores.jobs;
  const update = jobs.update.bind(jobs);
  let refused = 0;
  jobs.update = async (id: string, patch: JobPatch) => {
    // Every attempt of the runner's `drawn` write fails; the delivery's own write goes through.
    if (patch.status === 'drawn') {
      refused++;
      throw new Error('SQLITE_BUSY: database is locked');
    }
    return update(id, patch);
  };
  try {
    const since = h.emu.eventCursor();
    const { jobId } = await personalize(h, { options: { prompt: 'a brass owl' } });
    const { result } = await waitForThreadResult(h, since);
    assert.match(result.content, /brass owl/);
    assert.ok(refused >= 1);
    await waitFor(async () => (await job(jobId))?.status === 'done');
    assert.equal((await job(jobId))?.messageId, result.id);
  } finally {
    jobs.update = update;
  }
  await idle();
  h.emu.assertNoViolations();
});

test('503 on every interaction edit: the image is posted, and the status the bot cannot edit is answered by a reply with the final state', async () => {
  const since = h.emu.eventCursor();
  h.emu.failRequests({ method: 'PATCH', route: /^\/webhooks\//, status: 503, times: Infinity });
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a copper kettle' } });
  const { threadId, result } = await waitForThreadResult(h, since);
  assert.match(result.content, /copper kettle/);
  const done: APIMessage = await h.emu.waitForMessage(CHANNEL_A, (m) => m.message_reference?.message_id === threadId && /^Done/.test(m.content), 15_000, since);
  assert.ok(done);
  await idle();
  h.emu.assertNoViolations();
});
