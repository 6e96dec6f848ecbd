import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { downloadAttachment } from '../../src/bot/attachment-downloader.ts';
import { InputError } from '../../src/errors.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, GUILD_A, photo, startHarness, type Harness } from '../e2e/harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

const INTERNAL = /Something went wrong on our side/;

async function download(name: string, timeoutMs = 5000) {
  const att = h.emu.uploadAttachment(await photo('#335577'), name, 'image/png');
  return downloadAttachment({ url: att.url, name: att.filename, size: att.size }, { allowedHosts: [new URL(h.emu.cdnBase).host], maxBytes: 10 * 2 ** 20, timeoutMs });
}

test('a download that trickles past its time limit is an InputError naming the file, escaped', async () => {
  h.emu.failDownloads({ mode: 'trickle' });
  await assert.rejects(download('__rex__1.png', 600), (err: Error) => {
    assert.ok(err instanceof InputError, `${err.name}: ${err.message}`);
    assert.equal(err.message, '\\_\\_rex\\_\\_1.png took too long to download from Discord; send it again.');
    return true;
  });
});

test('a download that ends short of its Content-Length is an InputError saying so', async () => {
  h.emu.failDownloads({ mode: 'short' });
  await assert.rejects(download('rex.png'), (err: Error) => {
    assert.ok(err instanceof InputError, `${err.name}: ${err.message}`);
    assert.match(err.message, /^rex\.png arrived incomplete from Discord/);
    return true;
  });
});

test('/personalize with a photo cut short in download tells the user which file, not "went wrong", and stores nothing', async () => {
  const photosBefore = (await h.deps.stores.store.keys('photos')).length;
  h.emu.failDownloads({ mode: 'short' });
  const run = h.emu.runSlashCommand({
    guildId: GUILD_A,
    channelId: CHANNEL_A,
    userId: ALICE,
    name: 'personalize',
    options: { prompt: 'my dog', image1: h.emu.uploadAttachment(await photo('#a05020'), 'my_dog.png', 'image/png') },
  });
  const reply = await run.waitForFollowUp(0, 15_000);
  assert.doesNotMatch(reply.content, INTERNAL);
  assert.match(reply.content, /^my\\_dog\.png arrived incomplete from Discord/);
  assert.equal((reply.flags ?? 0) & 64, 64, 'ephemeral');
  assert.equal((await h.deps.stores.store.keys('photos')).length, photosBefore);
  h.emu.assertNoViolations();
});
