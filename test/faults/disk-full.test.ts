import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CHANNEL_A, GUILD_A, photo, startHarness, waitForThreadResult, type Harness } from '../e2e/harness.ts';

// The bot's SQLite folder on a small tmpfs that a filler file then fills to the last byte: a real
// ENOSPC under SQLite, not a simulated error. Mounting needs root (CI runs as root); elsewhere it skips.

const OUTAGE = /can't save anything right now \(its storage is unavailable\)/;
const INTERNAL = /Something went wrong on our side/;

let mountDir: string | undefined;
let skipReason: string | undefined;
let h: Harness | undefined;
const filler = () => join(mountDir!, 'filler.bin');

before(async () => {
  mountDir = mkdtempSync(join(tmpdir(), 'xcot-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountDir], { stdio: 'pipe' });
  } catch (err) {
    skipReason = `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
    return;
  }
  h = await startHarness({ config: { dataDir: join(mountDir, 'data') } });
});

after(async () => {
  await h?.close();
  if (mountDir && !skipReason) {
    try {
      execFileSync('umount', [mountDir], { stdio: 'pipe' });
    } catch {
      // still busy: left for the OS
    }
  }
  if (mountDir) rmSync(mountDir, { recursive: true, force: true });
  removeTinyBundles();
});

function fillDisk(): void {
  const free = Number(statfsSync(mountDir!).bavail) * Number(statfsSync(mountDir!).bsize);
  writeFileSync(filler(), Buffer.alloc(free));
}

test('disk full: /personalize answers that nothing could be saved, nothing is queued or half-stored, the bot goes on; with space again the image is drawn', async (t) => {
  if (!h) {
    t.skip(skipReason ?? 'no harness');
    return;
  }
  const photosBefore = await h.deps.stores.photos.count();
  fillDisk();
  const image1 = h.emu.uploadAttachment(await photo('#7040a0'), 'cat.png', 'image/png', CHANNEL_A);
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'my cat as a painter', image1 } });
  // Settings and the queue are read before the public reply; the photos are stored after it, and a
  // failure there turns into a message for the user alone.
  const refusal = await run.waitForFollowUp(0, 30_000);
  assert.match(refusal.content, OUTAGE);
  assert.doesNotMatch(refusal.content, INTERNAL);
  assert.ok((Number(refusal.flags ?? 0) & (1 << 6)) !== 0, 'the refusal is ephemeral');
  const snap = h.deps.queue.snapshot();
  assert.equal(snap.running.length + snap.waiting.length, 0, 'a job was queued');
  assert.deepEqual(await h.deps.stores.jobs.listByUser(ALICE), []);
  assert.equal(await h.deps.stores.photos.count(), photosBefore, 'a photo was left half-stored');

  unlinkSync(filler());
  const since = h.emu.clock.now();
  const again = h.emu.uploadAttachment(await photo('#7040a0'), 'cat.png', 'image/png', CHANNEL_A);
  h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'my cat as a painter', image1: again } });
  const { result } = await waitForThreadResult(h, since);
  assert.equal(result.attachments.length, 1);
  h.emu.assertNoViolations();
});
