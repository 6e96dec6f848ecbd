import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import {
  ALICE,
  BOB,
  CHANNEL_A,
  GUILD_A,
  buttonId,
  customIds,
  photo,
  startHarness,
  waitForMessageState,
  waitForThreadResult,
  type Harness,
} from './harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

/** /personalize by Alice with two photos of her dog; resolves with the thread and its result. */
async function dogInThread(extra: Record<string, string | number | boolean> = {}) {
  const a = h.emu.uploadAttachment(await photo('#a05020'), 'dog1.png', 'image/png', CHANNEL_A);
  const b = h.emu.uploadAttachment(await photo('#b06030', 'jpeg'), 'dog2.jpg', 'image/jpeg', CHANNEL_A);
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({
    guildId: GUILD_A,
    channelId: CHANNEL_A,
    userId: ALICE,
    name: 'personalize',
    options: { prompt: 'my dog on the moon', image1: a, image2: b, name: 'Rex', seed: 7, ...extra },
  });
  assert.equal(await run.waitForAck(), 5, 'deferred within 3 s');
  const { threadId, result } = await waitForThreadResult(h, since);
  const jobId = buttonId(result, 'regen').split(':')[2];
  return { run, threadId, result, jobId };
}

let base: ReturnType<typeof dogInThread> | undefined;
/** One result that several tests act on (each /personalize costs a generation). */
function baseResult(): ReturnType<typeof dogInThread> {
  base ??= dogInThread();
  return base;
}

async function format(bytes: Buffer): Promise<[string | undefined, number | undefined, number | undefined]> {
  const meta = await sharp(bytes).metadata();
  return [meta.format, meta.width, meta.height];
}

test('/personalize with two photos answers in a thread with a 384x384 PNG and working buttons', async () => {
  const { run, result, jobId } = await baseResult();
  assert.equal(result.attachments.length, 1);
  assert.deepEqual(await format(h.emu.fileBytes(result.attachments[0])), ['png', 384, 384]);
  assert.match(result.content, /my dog on the moon/);
  assert.match(result.content, /Seed 7/);
  const ids = customIds(result);
  for (const action of ['regen', 'vary', 'why', 'save', 'refine']) assert.ok(ids.includes(`xcot:${action}:${jobId}`), ids.join());
  const status = await waitForMessageState(h, (await run.waitForReply()).id, (m) => /Done/.test(m.content));
  assert.deepEqual(customIds(status), [], 'no Cancel button left on a finished status');
  // The status is settled first, then the record says done.
  for (let i = 0; i < 100 && (await h.deps.stores.jobs.get(jobId))?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 50));
  const job = await h.deps.stores.jobs.get(jobId);
  assert.equal(job?.status, 'done');
  assert.equal(job?.photoHashes?.length, 2);
  h.emu.assertNoViolations();
});

test('Regenerate draws with a new seed and posts in the same thread', async () => {
  const { threadId, result, jobId } = await baseResult();
  const since = h.emu.eventCursor();
  const click = h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE);
  assert.equal(await click.waitForAck(), 5);
  const again = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000, since);
  const seed = /Seed (\d+)/.exec(again.content)?.[1];
  assert.ok(seed && seed !== '7', again.content);
  assert.deepEqual(await format(h.emu.fileBytes(again.attachments[0])), ['png', 384, 384]);
  assert.equal(h.emu.threads(CHANNEL_A).filter((t) => t.id === threadId).length, 1);
  const child = await h.deps.stores.jobs.get(buttonId(again, 'regen').split(':')[2]);
  assert.equal(child?.parentId, jobId);
  assert.equal(child?.seed, Number(seed));
  await waitForMessageState(h, (await click.waitForReply()).id, (m) => /Done/.test(m.content), 30_000, since);
  h.emu.assertNoViolations();
});

/** The grounding as the embed shows it: without control characters or U+FFFD (a character's bytes cut by the model). */
const readable = (text: string) => text.replace(/[\p{Cc}\p{Co}\p{Cn}\p{Cs}\uFFFD]/gu, (c) => (c === '\n' ? c : '')).trim();

test('Show reasoning answers only the clicker with the grounding text', async () => {
  const { result, jobId } = await baseResult();
  const click = h.emu.clickButton(result.id, buttonId(result, 'why'), BOB);
  const reply = await click.waitForReply();
  assert.equal(reply.flags! & 64, 64, 'ephemeral');
  const grounding = (await h.deps.stores.jobs.get(jobId))?.grounding;
  assert.ok(grounding, 'the job stored its grounding');
  assert.equal(reply.embeds[0]?.description, readable(grounding).slice(0, 4096));
  h.emu.assertNoViolations();
});

test('a reply in the thread with a photo refines: the photo joins, grounding is redone, a new image is posted', async () => {
  const { threadId } = await baseResult();
  // The thread's latest image is the one refined (after the tests above, the variations).
  const latest = h.emu.messages(threadId).filter((m) => m.attachments.length > 0).at(-1)!;
  const jobId = buttonId(latest, 'regen').split(':')[2];
  const since = h.emu.eventCursor();
  const extra = h.emu.uploadAttachment(await photo('#305080'), 'dog3.png', 'image/png');
  const reply = h.emu.postMessage(threadId, ALICE, 'now on a beach', [extra]);
  const refined = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000, since);
  // The reply edits the request (the subject and scene stay), and the status says so: no bare "Done: <link>".
  assert.match(refined.content, /^\*\*Rex: my dog on the moon, on a beach\*\*/);
  const status = h.emu.messages(threadId).find((m) => m.message_reference?.message_id === reply.id)!;
  await waitForMessageState(h, status.id, (m) => /^Done/.test(m.content), 15_000, since);
  assert.equal(
    h.emu.message(status.id)?.content,
    'Done. Refined: added “on a beach”, and added your photo to the subject. Drew **my dog on the moon, on a beach**; the new image is below.',
  );
  assert.doesNotMatch(refined.content, /grounding cached/);
  const child = await h.deps.stores.jobs.get(buttonId(refined, 'regen').split(':')[2]);
  const parent = await h.deps.stores.jobs.get(jobId);
  assert.equal(child?.parentId, jobId);
  assert.equal(child?.photoHashes?.length, 3);
  assert.deepEqual(child?.photoHashes?.slice(0, 2), parent?.photoHashes);
  assert.ok(child?.grounding);
  // Someone else's reply in the thread is not a refinement.
  const quiet = h.emu.eventCursor();
  h.emu.postMessage(threadId, BOB, 'make it blue');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(h.emu.eventHistory().slice(quiet).filter((e) => e.kind === 'message_create' && e.source !== 'user').length, 0);
  h.emu.assertNoViolations();
});

test('Variations posts four images in the thread', async () => {
  // A prompt without photos: four images with a subject would take most of the suite's time budget.
  let since = h.emu.eventCursor();
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a paper boat' } });
  const { threadId, result } = await waitForThreadResult(h, since);
  since = h.emu.eventCursor();
  const click = h.emu.clickButton(result.id, buttonId(result, 'vary'), ALICE);
  const varied = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 90_000, since);
  assert.equal(varied.attachments.length, 4);
  for (const a of varied.attachments) assert.deepEqual(await format(h.emu.fileBytes(a)), ['png', 384, 384]);
  await waitForMessageState(h, (await click.waitForReply()).id, (m) => /Done/.test(m.content), 30_000, since);
  h.emu.assertNoViolations();
});

test('Save subject opens a modal and saves the photos under the name given', async () => {
  const { result, jobId } = await baseResult();
  const opened = h.emu.clickButton(result.id, buttonId(result, 'save'), ALICE);
  const submitted = await h.emu.submitModal(opened, { name: 'Rex the dog', context: 'a brown terrier' });
  const reply = await submitted.waitForReply(10_000);
  assert.match(reply.content, /Saved as “Rex the dog”/);
  const subject = await h.deps.stores.subjects.get(ALICE, GUILD_A, 'Rex the dog');
  const job = await h.deps.stores.jobs.get(jobId);
  assert.deepEqual(subject.photoHashes, job?.photoHashes);
  assert.equal(subject.context, 'a brown terrier');
  // Only the owner may save.
  const bob = h.emu.clickButton(result.id, buttonId(result, 'save'), BOB);
  assert.match((await bob.waitForReply()).content, /Only the person who made this image/);
  h.emu.assertNoViolations();
});

test('trace:true posts the reasoning embed with the image', async () => {
  const { result, jobId } = await dogInThread({ trace: true });
  assert.equal(result.embeds.length, 1);
  assert.equal(result.embeds[0].title, 'How I see your subject');
  assert.equal(result.embeds[0].description, readable((await h.deps.stores.jobs.get(jobId))?.grounding ?? '').slice(0, 4096));
  h.emu.assertNoViolations();
});

test('buttons keep working after the bot restarts', async () => {
  const { threadId, result } = await baseResult();
  await h.restart();
  const since = h.emu.eventCursor();
  const click = h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE);
  assert.equal(await click.waitForAck(), 5);
  const again = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000, since);
  assert.match(again.content, /my dog on the moon/);
  const why = h.emu.clickButton(result.id, buttonId(result, 'why'), ALICE);
  assert.ok((await why.waitForReply()).embeds[0]?.description);
  h.emu.assertNoViolations();
});
