import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { APIAttachment } from 'discord.js';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, photo, startHarness, waitForThreadResult, type Harness } from './harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

/** What a bad upload must not leave behind: job records and stored photos. */
async function stored(): Promise<{ jobs: number; photos: number }> {
  const { stores } = h.deps;
  return { jobs: (await stores.jobs.listByUser(ALICE)).length, photos: (await stores.store.keys('photos')).length };
}

const bad: { name: string; attachment: () => Promise<APIAttachment>; answer: RegExp }[] = [
  {
    name: 'a text file',
    attachment: async () => h.emu.uploadAttachment(Buffer.from('my dog is called Rex\n'), 'notes.txt', 'text/plain'),
    answer: /notes\.txt is not an image/,
  },
  {
    name: 'a corrupt image',
    attachment: async () => h.emu.uploadAttachment((await photo('#804020')).subarray(0, 200), 'broken.png', 'image/png'),
    answer: /broken\.png looks damaged or incomplete/,
  },
  {
    name: 'an image over the size limit',
    attachment: async () => {
      const big = Buffer.alloc(h.config.maxPhotoBytes + 1024);
      (await photo('#804020')).copy(big);
      return h.emu.uploadAttachment(big, 'huge.png', 'image/png');
    },
    answer: /huge\.png is larger than 10 MiB/,
  },
  {
    name: 'a link to a non-Discord host',
    attachment: async () => h.emu.externalAttachment('https://images.example.com/dog.png', await photo('#804020'), 'dog.png', 'image/png'),
    answer: /dog\.png: only files uploaded to Discord can be used/,
  },
];

for (const c of bad) {
  test(`${c.name} next to a good photo gets a clear answer, and nothing is stored`, async () => {
    const before = await stored();
    const good = h.emu.uploadAttachment(await photo('#a05020'), 'good.png', 'image/png');
    const run = h.emu.runSlashCommand({
      guildId: GUILD_A,
      channelId: CHANNEL_A,
      userId: ALICE,
      name: 'personalize',
      options: { prompt: 'my dog', image1: good, image2: await c.attachment() },
    });
    // The public reply is withdrawn and the reason comes as an ephemeral follow-up.
    const reply = await run.waitForFollowUp(0, 15_000);
    assert.match(reply.content, c.answer);
    assert.equal((reply.flags ?? 0) & 64, 64, 'ephemeral');
    assert.deepEqual(await stored(), before);
    assert.deepEqual(h.emu.threads(CHANNEL_A), []);
    h.emu.assertNoViolations();
  });
}

test('a result over the channel upload limit is re-encoded as WebP and still posted', async () => {
  const limit = 64 * 1024;
  h.emu.setAttachmentSizeLimit(GUILD_B, limit);
  try {
    const since = h.emu.eventCursor();
    h.emu.runSlashCommand({ guildId: GUILD_B, channelId: CHANNEL_B, userId: ALICE, name: 'personalize', options: { prompt: 'a very detailed forest' } });
    const { threadId, result } = await waitForThreadResult(h, since);
    assert.equal(result.attachments.length, 1);
    const bytes = h.emu.fileBytes(result.attachments[0]);
    assert.ok(bytes.length <= limit, `${bytes.length} bytes`);
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 384, 384]);
    assert.match(result.attachments[0].filename, /\.webp$/);

    // A refinement by reply (a message carries no upload limit) still honours the channel's.
    const before = h.emu.eventCursor();
    h.emu.postMessage(threadId, ALICE, 'now at night');
    const refined = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000, before);
    const refinedBytes = h.emu.fileBytes(refined.attachments[0]);
    assert.ok(refinedBytes.length <= limit, `${refinedBytes.length} bytes`);
    h.emu.assertNoViolations();
  } finally {
    h.emu.setAttachmentSizeLimit(GUILD_B, 10 * 2 ** 20);
  }
});
