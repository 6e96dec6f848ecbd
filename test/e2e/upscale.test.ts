import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { writeUpscalerFixtures } from '../../src/generator/upscalers/make-upscaler-fixtures.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, GUILD_A, buttonId, customIds, personalize, startHarness, waitForThreadResult, type Harness } from './harness.ts';

// The Upscale button through the local Discord: the real bot, a random-weight x4 upscaler in the
// Xenova Swin2SR layout, the tiny fixture bundle.

let h: Harness;
let root: string;
const EPHEMERAL = 64;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'xcot-e2e-upscaler-'));
  const { x4 } = writeUpscalerFixtures(root);
  h = await startHarness({ config: { upscalerDir: x4 } });
});

after(async () => {
  await h?.close();
  rmSync(root, { recursive: true, force: true });
  removeTinyBundles();
});

const upscaleButton = (m: { components?: unknown[] }) => customIds(m).find((c) => c.startsWith('xcot:upscale:'));

test('Upscale ×4 under a result posts a 1536 x 1536 image in the thread, queued as a job of its own; the original stays', async () => {
  const since = h.emu.eventCursor();
  const { jobId } = await personalize(h, { options: { prompt: 'a lighthouse at dusk', seed: 3 } });
  const { threadId, result } = await waitForThreadResult(h, since);
  const button = upscaleButton(result);
  assert.equal(button, `xcot:upscale:${jobId}:0`);

  // Bob may not upscale Alice's image.
  const bob = h.emu.clickButton(result.id, button!, BOB);
  const refusal = await bob.waitForReply(10_000);
  assert.equal((refusal.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.match(refusal.content, /Only the person who made this image can do that/);

  const clicked = h.emu.eventCursor();
  const alice = h.emu.clickButton(result.id, button!, ALICE);
  assert.equal(await alice.waitForAck(10_000), 5, 'deferred: the image is downloaded first');
  const upscaled = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0 && m.id !== result.id, 120_000, clicked);
  assert.match(upscaled.content, /^\*\*Upscaled ×4\*\*: 1536 × 1536 · \d+\.\d s$/);
  const meta = await sharp(h.emu.fileBytes(upscaled.attachments[0])).metadata();
  assert.deepEqual([meta.width, meta.height], [1536, 1536]);
  assert.equal(upscaleButton(upscaled), undefined, 'an upscale is not upscaled again');
  assert.ok(h.emu.message(result.id)?.attachments.length, 'the original is kept');

  const record = (await recordOncePosted(buttonId(upscaled, 'delete').split(':')[2]))!;
  assert.deepEqual([record.status, record.parentId, record.upscale?.scale], ['done', jobId, 4]);
  h.emu.assertNoViolations();
});

test('/settings upscale enabled:False removes the button from new results and refuses the old one in one line; max_factor 2 gives 768 px', async () => {
  const first = h.emu.eventCursor();
  await personalize(h, { userId: ALICE, options: { prompt: 'a red kite', seed: 5 } });
  const { result } = await waitForThreadResult(h, first);
  const button = upscaleButton(result)!;

  const off = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: 'upscale', options: { enabled: false } });
  assert.match((await off.waitForReply(10_000)).content, /Upscale button: yes → no/);
  const second = h.emu.eventCursor();
  await personalize(h, { userId: ALICE, options: { prompt: 'a blue kite', seed: 6 } });
  const next = await waitForThreadResult(h, second);
  assert.equal(upscaleButton(next.result), undefined);
  const refused = await h.emu.clickButton(result.id, button, ALICE).waitForReply(10_000);
  assert.equal(refused.content, 'This server turned upscaling off.');

  const capped = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: 'upscale', options: { enabled: true, max_factor: 2 } });
  assert.match((await capped.waitForReply(10_000)).content, /Largest upscale: the model’s own \(×4\) → ×2/);
  const clicked = h.emu.eventCursor();
  h.emu.clickButton(result.id, button, ALICE);
  const small = await h.emu.waitForMessage(result.channel_id, (m) => m.attachments.length > 0 && m.id !== result.id, 120_000, clicked);
  assert.match(small.content, /^\*\*Upscaled ×2\*\*: 768 × 768/);
  const meta = await sharp(h.emu.fileBytes(small.attachments[0])).metadata();
  assert.deepEqual([meta.width, meta.height], [768, 768]);
  // Back to the model's own factor for the tests after this one.
  const reset = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: 'upscale', options: { max_factor: 0 } });
  assert.match((await reset.waitForReply(10_000)).content, /Largest upscale: ×2 → the model’s own \(×4\)/);
  h.emu.assertNoViolations();
});

test('an image whose record was forgotten (what /subject forget-me does to a member\'s jobs) is refused in one line', async () => {
  const since = h.emu.eventCursor();
  await personalize(h, { userId: BOB, options: { prompt: 'a green kite', seed: 8 } });
  const { result } = await waitForThreadResult(h, since);
  await h.deps.stores.jobs.deleteForUser(BOB);
  const refused = await h.emu.clickButton(result.id, upscaleButton(result)!, BOB).waitForReply(10_000);
  assert.equal((refused.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.equal(refused.content, 'That image is too old or was deleted; start again with /personalize.');
  h.emu.assertNoViolations();
});

test('an upscale waiting in the queue when the bot is killed (kill -9) is resumed after the restart and posted once in the thread', async () => {
  const since = h.emu.eventCursor();
  await personalize(h, { userId: ALICE, options: { prompt: 'a tin robot', seed: 9 } });
  const { threadId, result } = await waitForThreadResult(h, since);
  // The one model slot is taken by a held drawing, so the upscale waits behind it.
  const hold = h.holdGenerations();
  await personalize(h, { userId: ALICE, options: { prompt: 'a paper boat', seed: 10 } });
  await hold.reached(1);
  const clicked = h.emu.eventCursor();
  const click = h.emu.clickButton(result.id, upscaleButton(result)!, ALICE);
  const status = await click.waitForReply(30_000);
  assert.match(status.content, /In the queue: position 1/);
  const upscaleJobId = buttonId(status, 'cancel').split(':')[2];
  const deadline = Date.now() + 10_000;
  while ((await h.deps.stores.jobs.get(upscaleJobId))?.statusMessage === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  await h.crash();
  const upscaled = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0 && /^\*\*Upscaled ×4\*\*/.test(m.content), 120_000, clicked);
  const meta = await sharp(h.emu.fileBytes(upscaled.attachments[0])).metadata();
  assert.deepEqual([meta.width, meta.height], [1536, 1536]);
  const record = await recordOncePosted(upscaleJobId);
  assert.deepEqual([record?.status, record?.resumes], ['done', 1]);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(h.emu.messages(threadId).filter((m) => /^\*\*Upscaled/.test(m.content)).length, 1, 'posted once');
  h.emu.assertNoViolations();
});

/** A job's record once it says done: the status message is settled first, then the record (src/bot/delivery/deliver-result.ts). */
async function recordOncePosted(jobId: string) {
  for (let i = 0; i < 200 && (await h.deps.stores.jobs.get(jobId))?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 50));
  return h.deps.stores.jobs.get(jobId);
}
