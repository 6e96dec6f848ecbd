import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_MEMBER_PERMISSIONS, Permission } from '../../src/local-discord/permissions.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, GUILD_A, buttonId, personalize, photo, startHarness, waitForMessageState, waitForThreadResult, type Harness } from './harness.ts';

// Carol has Manage Server in the first guild (the harness' members).
let h: Harness;
const EPHEMERAL = 64;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function resultWithPhoto(userId: string, color: string, prompt: string) {
  const since = h.emu.eventCursor();
  const image1 = h.emu.uploadAttachment(await photo(color), 'pet.png', 'image/png', CHANNEL_A);
  const { jobId } = await personalize(h, { userId, options: { prompt, image1 } });
  const { threadId, result } = await waitForThreadResult(h, since);
  return { jobId, threadId, result };
}

test('the owner deletes a result: others are refused privately, the message goes, the record says so and its photos are released', async () => {
  const { jobId, threadId, result } = await resultWithPhoto(ALICE, '#806040', 'my cat as a pirate');
  const [hash] = (await h.deps.stores.jobs.get(jobId))!.photoHashes!;
  assert.ok(await h.deps.stores.photos.has(hash));

  const bob = h.emu.clickButton(result.id, buttonId(result, 'delete'), BOB);
  const refusal = await bob.waitForReply(10_000);
  assert.equal((refusal.flags ?? 0) & EPHEMERAL, EPHEMERAL, 'only Bob sees the refusal');
  assert.match(refusal.content, /Only the person who made this image, or someone who can manage messages here, can delete it\./);
  assert.ok(h.emu.message(result.id), 'still there');
  assert.equal((await h.deps.stores.jobs.get(jobId))?.deletedAt, undefined);

  const alice = h.emu.clickButton(result.id, buttonId(result, 'delete'), ALICE);
  const done = await alice.waitForReply(10_000);
  assert.equal((done.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.equal(done.content, 'Deleted.');
  assert.equal(h.emu.message(result.id), undefined, 'the result message is gone');
  const record = await h.deps.stores.jobs.get(jobId);
  assert.equal(record?.deletedBy, 'owner');
  assert.ok(record?.deletedAt);
  assert.equal(record?.photoHashes, undefined);
  assert.equal(await h.deps.stores.photos.has(hash), false, 'nothing else used the photo');

  // A reply in the thread would refine the deleted image: refused.
  const since = h.emu.eventCursor();
  h.emu.postMessage(threadId, ALICE, 'now with a parrot');
  const reply = await h.emu.waitForMessage(threadId, (m) => m.author.id === h.emu.botUserId, 10_000, since);
  await waitForMessageState(h, reply.id, (m) => /That image was deleted/.test(m.content), 10_000, since);
  h.emu.assertNoViolations();
});

test('a member with Manage Server deletes another member’s result; photos a later image still uses are kept', async () => {
  const { jobId, threadId, result } = await resultWithPhoto(BOB, '#305070', 'my dog as a knight');
  const [hash] = (await h.deps.stores.jobs.get(jobId))!.photoHashes!;
  // Regenerate: a second image in the thread, made from the same photo.
  const since = h.emu.eventCursor();
  const regen = h.emu.clickButton(result.id, buttonId(result, 'regen'), BOB);
  assert.equal(await regen.waitForAck(10_000), 5);
  const second = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0 && m.id !== result.id, 60_000, since);

  const carol = h.emu.clickButton(result.id, buttonId(result, 'delete'), CAROL);
  assert.equal((await carol.waitForReply(10_000)).content, 'Deleted.');
  assert.equal(h.emu.message(result.id), undefined);
  assert.equal((await h.deps.stores.jobs.get(jobId))?.deletedBy, 'moderator');
  assert.ok(await h.deps.stores.photos.has(hash), 'the regenerated image still refers to the photo');
  assert.ok(h.emu.message(second.id), 'the other image stays');

  // The second image's Delete works on its own message only.
  const own = h.emu.clickButton(second.id, buttonId(second, 'delete'), BOB);
  assert.equal((await own.waitForReply(10_000)).content, 'Deleted.');
  assert.equal(await h.deps.stores.photos.has(hash), false);
  h.emu.assertNoViolations();
});

test('Manage Messages is enough to delete, and a second click finds it already gone', async () => {
  const DAVE = '1300000000000000014';
  h.emu.addMember(GUILD_A, DAVE, { username: 'dave', permissions: DEFAULT_MEMBER_PERMISSIONS | Permission.ManageMessages });
  const { jobId, result } = await resultWithPhoto(ALICE, '#507030', 'my hamster as a chef');
  const first = h.emu.clickButton(result.id, buttonId(result, 'delete'), DAVE);
  const second = h.emu.clickButton(result.id, buttonId(result, 'delete'), ALICE);
  const answers = await Promise.all([first.waitForReply(10_000), second.waitForReply(10_000)]);
  for (const a of answers) assert.equal((a.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.equal(h.emu.message(result.id), undefined);
  assert.ok((await h.deps.stores.jobs.get(jobId))?.deletedAt);
  const texts = answers.map((a) => a.content).sort();
  assert.deepEqual(texts, ['Already deleted.', 'Deleted.'], 'one deletes; the other is told, without a second delete sent to Discord');
  h.emu.assertNoViolations();
});
