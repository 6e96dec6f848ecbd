import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, GUILD_A, buttonId, photo, startHarness, waitForMessageState, waitForThreadResult, type Harness } from './harness.ts';

// Without the privileged MessageContent intent, replies in the thread arrive empty: refining goes
// through the Refine button's modal (text and a file upload) instead.
let h: Harness;

before(async () => {
  h = await startHarness({ messageContent: false });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

test('with MessageContent off, the Refine modal takes words and a photo and refines in the thread', async () => {
  const since = h.emu.eventCursor();
  const first = h.emu.uploadAttachment(await photo('#a05020'), 'cat.png', 'image/png');
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'my cat asleep', image1: first } });
  const { threadId, result } = await waitForThreadResult(h, since);
  const parentId = buttonId(result, 'regen').split(':')[2];

  // A reply in the thread reaches the bot without its text or files, and is left alone.
  const quiet = h.emu.eventCursor();
  h.emu.postMessage(threadId, ALICE, 'make it snow', [h.emu.uploadAttachment(await photo('#203040'), 'cat2.png', 'image/png')]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.emu.eventHistory().slice(quiet).filter((e) => e.kind === 'message_create' && e.source !== 'user').length, 0);

  const opened = h.emu.clickButton(result.id, buttonId(result, 'refine'), ALICE);
  const modal = await opened.waitForModal();
  assert.equal(modal.custom_id, `xcot:refine-modal:${parentId}`);
  const more = h.emu.uploadAttachment(await photo('#406080'), 'cat3.png', 'image/png');
  const submitted = await h.emu.submitModal(opened, { prompt: 'my cat in the snow', photos: [more] });
  assert.equal(await submitted.waitForAck(), 5);
  const refined = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000, quiet);
  assert.match(refined.content, /my cat in the snow/);
  assert.doesNotMatch(refined.content, /grounding cached/);
  const child = await h.deps.stores.jobs.get(buttonId(refined, 'regen').split(':')[2]);
  assert.equal(child?.parentId, parentId);
  assert.equal(child?.photoHashes?.length, 2);
  await waitForMessageState(h, (await submitted.waitForReply()).id, (m) => /^Done/.test(m.content), 30_000, quiet);
  h.emu.assertNoViolations();
});

test('the Refine modal with nothing to change, or with a bad file, answers clearly and stores nothing', async () => {
  const since = h.emu.eventCursor();
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a teapot' } });
  const { result } = await waitForThreadResult(h, since);
  const jobs = (await h.deps.stores.jobs.listByUser(ALICE)).length;
  const photos = (await h.deps.stores.store.keys('photos')).length;
  const empty = await h.emu.submitModal(h.emu.clickButton(result.id, buttonId(result, 'refine'), ALICE), { prompt: ' ' });
  const nothing = await empty.waitForReply();
  assert.equal(nothing.flags! & 64, 64);
  assert.match(nothing.content, /Write what to change or add a photo/);

  const opened = h.emu.clickButton(result.id, buttonId(result, 'refine'), ALICE);
  const notes = h.emu.uploadAttachment(Buffer.from('not a picture'), 'teapot.txt', 'text/plain');
  const submitted = await h.emu.submitModal(opened, { prompt: '', photos: [notes] });
  // A refusal reaches only the user: the public placeholder made while the photos download is removed.
  const answer = await submitted.waitForFollowUp(0, 15_000);
  assert.equal(answer.flags! & 64, 64);
  assert.match(answer.content, /teapot\.txt is not an image/);
  assert.equal(h.emu.message(submitted.record.originalMessageId!), undefined, 'no public placeholder left');
  assert.equal((await h.deps.stores.jobs.listByUser(ALICE)).length, jobs);
  assert.equal((await h.deps.stores.store.keys('photos')).length, photos);
  h.emu.assertNoViolations();
});
