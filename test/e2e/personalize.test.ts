import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, GUILD_A, startHarness, type Harness } from './harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function photo(color: string, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const img = sharp({ create: { width: 160, height: 120, channels: 3, background: color } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
}

test('/personalize with two photos answers in a thread with a 384x384 PNG and working buttons', async () => {
  const a = h.emu.uploadAttachment(await photo('#a05020'), 'dog1.png', 'image/png', CHANNEL_A);
  const b = h.emu.uploadAttachment(await photo('#b06030', 'jpeg'), 'dog2.jpg', 'image/jpeg', CHANNEL_A);
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({
    guildId: GUILD_A,
    channelId: CHANNEL_A,
    userId: ALICE,
    name: 'personalize',
    options: { prompt: 'my dog on the moon', image1: a, image2: b, name: 'Rex', seed: 7 },
  });
  assert.equal(await run.waitForAck(), 5, 'deferred within 3 s');
  const event = await h.emu.waitFor((e) => e.kind === 'thread_create', 60_000, since);
  assert.ok(event.kind === 'thread_create');
  const threadId = String(event.thread.id);
  const result = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 60_000);
  assert.equal(result.attachments.length, 1);
  const png = h.emu.fileBytes(result.attachments[0]);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 384, 384]);
  assert.match(result.content, /my dog on the moon/);
  assert.match(result.content, /Seed 7/);
  const ids = customIds(result);
  assert.ok(ids.some((id) => id.startsWith('xcot:regen:')), ids.join());
  h.emu.assertNoViolations();
});

/** Every custom_id on a message's components. */
function customIds(message: { components?: unknown[] }): string[] {
  const out: string[] = [];
  const visit = (c: unknown): void => {
    if (!c || typeof c !== 'object') return;
    const o = c as { custom_id?: string; components?: unknown[] };
    if (o.custom_id) out.push(o.custom_id);
    o.components?.forEach(visit);
  };
  message.components?.forEach(visit);
  return out;
}
