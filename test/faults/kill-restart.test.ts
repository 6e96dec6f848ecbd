import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import type { Emulator } from '../../src/local-discord/driver.ts';
import { startBotProcess, type EntryProcess } from '../helpers/cluster-processes.ts';
import { startPetsDiscord } from '../helpers/pets-discord.ts';
import { removeTinyBundles, tinyBundle } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, GUILD_A, customIds } from '../e2e/harness.ts';

// The real `npm start` entry (src/main.ts) in a child process against the local Discord,
// killed with SIGKILL while jobs wait and run, then started again on the same data folder.

/** What a status says while its job is waiting or running. */
const IN_PROGRESS = /In the queue|Working on it|Starting|Reading your photos|Drawing/;

let emu: Emulator;
let dataDir: string;
let modelDir: string;
const children: EntryProcess[] = [];

before(async () => {
  modelDir = tinyBundle(1);
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-kill-'));
  emu = await startPetsDiscord();
});

after(async () => {
  for (const child of children) await child.stop('SIGKILL');
  await emu?.close();
  rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

/** `npm start`'s code path in a child process; resolves once it is connected to the emulator. */
async function startBot(): Promise<EntryProcess> {
  const child = await startBotProcess(emu, { MODEL_DIR: modelDir, DATA_DIR: dataDir, BATCH_JOBS: '1', MAX_WAITING_PER_USER: '2', CONSENT_REQUIRED: 'false', LOG_LEVEL: 'warn' });
  children.push(child);
  return child;
}

function current(id: string): APIMessage {
  const m = emu.message(id);
  assert.ok(m, `message ${id} is gone`);
  return m;
}

/** The newest message the bot posted in reply to `id`, if any. */
function newestReplyTo(id: string): APIMessage | undefined {
  return emu
    .messages(CHANNEL_A)
    .filter((m) => m.message_reference?.message_id === id)
    .at(-1);
}

/** What the user sees now about a job whose status was `statusId`: the status, or the bot's latest reply to it. */
function visibleState(statusId: string): APIMessage {
  return newestReplyTo(statusId) ?? current(statusId);
}

function isFinal(m: APIMessage): boolean {
  return !IN_PROGRESS.test(m.content) && !customIds(m).some((c) => c.startsWith('xcot:cancel:'));
}

test('kill -9 of the bot process with jobs waiting and running: after a restart on the same data no status stays "in the queue" or "working", and every image is posted exactly once', { timeout: 240_000 }, async () => {
  const first = await startBot();
  const statuses: { statusId: string; jobId: string }[] = [];
  for (const [i, userId] of [ALICE, BOB, CAROL, ALICE].entries()) {
    const run = emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'personalize', options: { prompt: `a lighthouse at dusk, take ${i}` } });
    const status = await run.waitForReply(30_000);
    const cancel = customIds(status).find((c) => c.startsWith('xcot:cancel:'));
    assert.ok(cancel, `job ${i} was not queued: ${status.content}`);
    statuses.push({ statusId: status.id, jobId: cancel.split(':')[2] });
  }
  await first.stop('SIGKILL');
  const unfinished = statuses.filter((s) => !isFinal(current(s.statusId)));
  assert.ok(unfinished.length >= 2, `only ${unfinished.length} jobs were still unfinished at the kill; the test needs some`);

  await startBot();
  const end = Date.now() + 120_000;
  while (Date.now() < end && !statuses.every((s) => isFinal(visibleState(s.statusId)))) await new Promise((r) => setTimeout(r, 250));
  for (const s of statuses) {
    const seen = visibleState(s.statusId);
    assert.ok(isFinal(seen), `job ${s.jobId}: still "${seen.content}" after the restart`);
  }
  // Jobs a dead process left are resumed once: every image is posted, and only once (file names carry the job id).
  const everywhere = [...emu.messages(CHANNEL_A), ...emu.threads(CHANNEL_A).flatMap((t) => emu.messages(t.id))];
  for (const s of statuses) {
    const posts = everywhere.filter((m) => m.attachments.some((a) => a.filename.startsWith(`xcot-${s.jobId}-`)));
    assert.equal(posts.length, 1, `job ${s.jobId} was posted ${posts.length} times`);
  }
  emu.assertNoViolations();
});
