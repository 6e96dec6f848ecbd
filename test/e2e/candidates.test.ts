/**
 * Groups of candidates through the real bot and the local Discord: drawn in one batch, ranked by the
 * scorers in the engine's workers, best posted first with its scores, the others behind a menu that
 * swaps the image; picks, reactions and regenerations recorded as feedback, exported for training,
 * removed by forget-me, and not recorded where a server turned collection off.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { APIMessage } from 'discord.js';
import type { WorkerEngine } from '../../src/runtime/worker-engine.ts';
import { FeedbackGroupSchema } from '../../src/feedback/export-schema.ts';
import { writeClipFixture, writeDinoFixture } from '../../src/generator/scorers/make-scorer-fixtures.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { KEPT_MESSAGE } from '../../src/bot/delivery/keep-result.ts';
import { SCORING_PROGRESS } from '../../src/bot/status/job-status-text.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, GUILD_A, buttonId, customIds, personalize, photo, startHarness, waitForMessageState, waitForThreadResult, type Harness } from './harness.ts';

const EPHEMERAL = 1 << 6;
let h: Harness;
let scorerDir: string;

before(async () => {
  scorerDir = mkdtempSync(join(tmpdir(), 'xcot-e2e-scorers-'));
  writeDinoFixture(join(scorerDir, 'dino-vits16'));
  writeClipFixture(join(scorerDir, 'clip-vit-base-patch32'));
  h = await startHarness({ config: { scorer: 'dino', scorerDir } });
});

after(async () => {
  await h?.close();
  rmSync(scorerDir, { recursive: true, force: true });
  removeTinyBundles();
});

async function group(options: Record<string, string | number | boolean> = {}): Promise<{ result: APIMessage; jobId: string; threadId: string }> {
  const image1 = h.emu.uploadAttachment(await photo('#a05020'), 'dog1.png', 'image/png', CHANNEL_A);
  const image2 = h.emu.uploadAttachment(await photo('#b06030'), 'dog2.png', 'image/png', CHANNEL_A);
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({
    guildId: GUILD_A,
    channelId: CHANNEL_A,
    userId: ALICE,
    name: 'personalize',
    options: { prompt: 'my dog on the moon', image1, image2, name: 'Rex', seed: 11, candidates: 4, ...options },
  });
  assert.equal(await run.waitForAck(), 5);
  const { result, threadId } = await waitForThreadResult(h, since, 120_000);
  return { result, threadId, jobId: buttonId(result, 'regen').split(':')[2] };
}

function menuOf(message: APIMessage): { custom_id: string; options: { label: string; value: string; default?: boolean }[] } {
  for (const row of message.components ?? []) {
    for (const c of (row as { components: { type: number }[] }).components) if (c.type === 3) return c as never;
  }
  throw new Error(`no select menu: ${customIds(message).join(', ')}`);
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function settings(sub: string, options: Record<string, string | number | boolean>): Promise<APIMessage> {
  return h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: sub, options }).waitForReply(15_000);
}

let first: ReturnType<typeof group> | undefined;
function firstGroup(): ReturnType<typeof group> {
  first ??= group();
  return first;
}

test('a group of 4 is drawn in one batch, scored in the workers, the best posted with its scores and the rest in a menu', async () => {
  const { result, jobId } = await firstGroup();
  assert.equal(result.attachments.length, 1, 'one candidate shown at a time');
  assert.match(result.content, /\(4 candidates\) · scored by dino in \d+\.\d s/);
  assert.match(result.content, /\nCandidate 1 of 4 · fidelity -?\d\.\d\d · alignment -?\d\.\d\d \(dino\)$/);
  const menu = menuOf(result);
  assert.equal(menu.options.length, 4);
  for (const [i, o] of menu.options.entries()) assert.match(o.label, new RegExp(`^Candidate ${i + 1} · fidelity -?\\d\\.\\d\\d · alignment -?\\d\\.\\d\\d$`));
  assert.ok(customIds(result).includes(`xcot:keep:${jobId}`));

  const stored = await h.deps.stores.candidates.get(jobId);
  assert.ok(stored);
  assert.equal(stored.scorer, 'dino');
  assert.deepEqual(stored.candidates.map((c) => c.drawn).sort(), [0, 1, 2, 3]);
  assert.deepEqual(stored.candidates.map((c) => c.seed).sort(), [11, 12, 13, 14]);
  const perImage = (h.deps.engine as WorkerEngine).shape.imageTokens;
  for (const c of stored.candidates) assert.equal(c.imageTokens.length, perImage);
  assert.deepEqual(h.emu.fileBytes(result.attachments[0]), Buffer.from(stored.candidates[0].data, 'base64'), 'the best one is shown');
  h.emu.assertNoViolations();
});

test('the owner’s choice in the menu swaps the shown image and is recorded as the pick; Keep this one too', async () => {
  const { result, jobId } = await firstGroup();
  const stored = (await h.deps.stores.candidates.get(jobId))!;
  const second = stored.candidates[1];
  const since = h.emu.eventCursor();
  const pick = h.emu.selectMenu(result.id, menuOf(result).custom_id, ALICE, [String(second.drawn)]);
  assert.equal(await pick.waitForAck(), 7, 'the result message itself is updated');
  const swapped = await waitForMessageState(h, result.id, (m) => m.attachments[0]?.id !== result.attachments[0].id, 15_000, since);
  assert.deepEqual(h.emu.fileBytes(swapped.attachments[0]), Buffer.from(second.data, 'base64'));
  assert.match(swapped.content, /\nCandidate 2 of 4 · fidelity/);
  assert.match(swapped.content, new RegExp(`Seed ${second.seed} `));
  assert.equal(menuOf(swapped).options.find((o) => o.default)?.value, String(second.drawn));
  const rows = await eventually(() => h.deps.stores.feedback.rows(jobId), (r) => r.some((x) => x.picked === second.drawn), 'the pick');
  assert.equal(rows.length, 1);
  assert.equal((await h.deps.stores.candidates.get(jobId))?.shown, second.drawn, 'kept across restarts');

  // Someone else looking at another candidate sees it alone; the public message stays.
  const look = h.emu.selectMenu(result.id, menuOf(result).custom_id, BOB, [String(stored.candidates[2].drawn)]);
  const seen = await look.waitForReply(15_000);
  assert.ok((Number(seen.flags) & EPHEMERAL) !== 0);
  assert.equal(seen.attachments.length, 1);
  assert.equal((await h.deps.stores.candidates.get(jobId))?.shown, second.drawn);

  const keep = await h.emu.clickButton(result.id, buttonId(swapped, 'keep'), ALICE).waitForReply(15_000);
  assert.match(keep.content, /Kept: Candidate 2 of 4\. Thanks, noted\./);
  h.emu.assertNoViolations();
});

test('👍 and 👎 on a result are recorded on the candidate it shows, and taking one back removes it', async () => {
  const { result, jobId } = await firstGroup();
  const shown = (await h.deps.stores.candidates.get(jobId))!.shown;
  h.emu.react(result.id, BOB, '👍');
  h.emu.react(result.id, CAROL, '👎');
  h.emu.react(result.id, CAROL, '🎉');
  const rows = await eventually(() => h.deps.stores.feedback.rows(jobId), (r) => r.length === 3, 'three rows');
  assert.equal(rows.find((r) => r.userId === BOB)?.thumbs[String(shown)], 'up');
  assert.equal(rows.find((r) => r.userId === CAROL)?.thumbs[String(shown)], 'down');
  h.emu.unreact(result.id, CAROL, '👎');
  await eventually(() => h.deps.stores.feedback.rows(jobId), (r) => Object.keys(r.find((x) => x.userId === CAROL)?.thumbs ?? { x: 1 }).length === 0, 'the removal');
});

test('Regenerate records a signal on the candidate shown and draws a group again; quotas count each candidate', async () => {
  const { result, jobId, threadId } = await firstGroup();
  const shown = (await h.deps.stores.candidates.get(jobId))!.shown;
  await settings('quotas', { user_per_hour: 5 });
  try {
    const since = h.emu.eventCursor();
    await h.emu.clickButton(result.id, buttonId(result, 'regen'), ALICE).waitForAck();
    const rows = await eventually(() => h.deps.stores.feedback.rows(jobId), (r) => r.some((x) => x.regenerated.includes(shown)), 'the regeneration');
    assert.equal(rows.find((r) => r.userId === ALICE)?.regenerated.length, 1);
    const again = await h.emu.waitForMessage(threadId, (m) => m.attachments.length > 0, 120_000, since);
    assert.match(again.content, /Candidate 1 of 4/);
    // The regenerated group used 4 of the 5 images this hour: a group of 2 is 2 images, over the 1 left.
    const refused = await h.emu
      .runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a cat', candidates: 2 } })
      .waitForReply(15_000);
    assert.ok((Number(refused.flags) & EPHEMERAL) !== 0, refused.content);
    assert.match(refused.content, /image/i);
    // Refining the group with a photo draws 4 again: refused before the public reply the download needs.
    const opened = h.emu.clickButton(result.id, buttonId(result, 'refine'), ALICE);
    const more = h.emu.uploadAttachment(await photo('#406080'), 'dog3.png', 'image/png');
    const submitted = await h.emu.submitModal(opened, { prompt: 'my dog on mars', photos: [more] });
    assert.equal(await submitted.waitForAck(15_000), 4);
    assert.ok((Number((await submitted.waitForReply()).flags) & EPHEMERAL) !== 0);
  } finally {
    await settings('quotas', { user_per_hour: 0 });
  }
});

test('candidates are refused above the server’s cap and with count; /settings shows and changes the default, the cap and collection', async () => {
  const ask = (options: Record<string, string | number | boolean>) =>
    h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a cat', ...options } }).waitForReply(15_000);
  assert.equal((await ask({ candidates: 5 })).content, 'This server allows at most 4 candidates.');
  assert.equal((await ask({ candidates: 2, count: 2 })).content, 'Use either `count` or `candidates`, not both.');
  const shown = (await settings('show', {})).content;
  assert.match(shown, /Default candidates: 1\nMost candidates: 4\n/);
  assert.match(shown, /Picks and reactions recorded as training data: yes/);
  assert.match((await settings('limits', { candidates_default: 3, candidates_max: 2 })).content, /default candidate count cannot be above the maximum/);
  assert.match((await settings('limits', { candidates_max: 8 })).content, /Most candidates: 4 → 8/);
  await settings('limits', { candidates_max: 4 });
});

test('a group without subject photos has nothing to be compared with: shown unranked, and said so', async () => {
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: ALICE, name: 'personalize', options: { prompt: 'a lighthouse', candidates: 2, seed: 3 } });
  await run.waitForAck();
  const { result } = await waitForThreadResult(h, since, 120_000);
  assert.match(result.content, /\(2 candidates\) · unranked\nCandidate 1 of 2 · unranked$/);
  assert.deepEqual(menuOf(result).options.map((o) => o.label), ['Candidate 1 · unranked', 'Candidate 2 · unranked']);
  const stored = (await h.deps.stores.candidates.get(buttonId(result, 'regen').split(':')[2]))!;
  assert.equal(stored.scorer, null);
  assert.equal(stored.reason, 'no subject photos to compare with');
  assert.deepEqual(stored.candidates.map((c) => c.drawn), [0, 1], 'in drawing order');
});

test('a group Discord refused at first is posted again later with its scores and its menu', async () => {
  h.deps.redeliveryDelaysMs = [1500];
  try {
    const since = h.emu.eventCursor();
    h.emu.failRequests({ method: 'POST', route: /^\/channels\/\d+\/messages$/, status: 502, times: Infinity, onlyWithFiles: true });
    h.emu.failRequests({ method: 'PATCH', route: /^\/(webhooks|channels)\//, status: 502, times: Infinity, onlyWithFiles: true });
    const { status } = await personalize(h, { options: { prompt: 'a paper boat', candidates: 2, seed: 5 } });
    await waitForMessageState(h, status.id, (m) => m.content === KEPT_MESSAGE, 60_000, since);
    h.emu.stopFailingRequests();
    const result = await h.emu.waitForMessage(status.id, (m) => m.attachments.length > 0, 30_000, since);
    assert.match(result.content, /\nCandidate 1 of 2 · unranked$/);
    assert.equal(menuOf(result).options.length, 2);
  } finally {
    h.emu.stopFailingRequests();
    h.deps.redeliveryDelaysMs = undefined;
  }
});

test('export-feedback writes groups that validate against the schema, with every signal; forget-me removes a user’s rows', async () => {
  const { jobId } = await firstGroup();
  const out = join(h.config.dataDir, 'feedback.jsonl');
  await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/export-feedback.ts', '--out', out, '--data', h.config.dataDir], { timeout: 60_000 });
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => FeedbackGroupSchema.parse(JSON.parse(l)));
  const line = lines.find((l) => l.groupId === jobId);
  assert.ok(line);
  assert.equal(line.prompt, 'my dog on the moon');
  assert.equal(line.candidates.length, 4);
  assert.equal(line.subjectPhotoHashes.length, 2);
  assert.equal(line.sampling.seed, 11);
  assert.equal(line.scorer, 'dino');
  const shown = (await h.deps.stores.candidates.get(jobId))!.shown;
  const c = line.candidates.find((x) => x.drawn === shown)!;
  assert.deepEqual(c.signals, { picked: true, thumbsUp: 1, thumbsDown: 0, regenerated: true, refined: false });
  assert.ok(!JSON.stringify(line).includes(ALICE), 'no user ids');

  const bad = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/export-feedback.ts', '--out', out, '--since', 'yesterday-ish'], { timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
  assert.equal((bad as { code: number }).code, 2);
  assert.match((bad as { stderr: string }).stderr, /--since must be a date/);

  const forget = await h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: BOB, name: 'subject', subcommand: 'forget-me', options: { confirm: true } }).waitForReply(15_000);
  assert.ok((Number(forget.flags) & EPHEMERAL) !== 0, forget.content);
  const rows = await h.deps.stores.feedback.rows(jobId);
  assert.ok(rows.length > 0 && !rows.some((r) => r.userId === BOB), 'Bob’s row is gone, the others stay');
  assert.ok(!(await h.deps.stores.store.keys('feedback')).some((k) => k.includes(BOB)), 'no index names Bob');
});

test('where a server turned feedback off nothing is recorded and nothing is exported; the swap still works', async () => {
  assert.match((await settings('privacy', { feedback: false })).content, /training data: yes → no/);
  try {
    const { result, jobId } = await group({ candidates: 2, seed: 30 });
    const stored = (await h.deps.stores.candidates.get(jobId))!;
    assert.equal(stored.feedback, false);
    const other = stored.candidates[1];
    const since = h.emu.eventCursor();
    // A channel whose upload limit is below the stored PNG: the swapped image is encoded to fit.
    const limit = Buffer.from(other.data, 'base64').byteLength - 1;
    h.emu.setAttachmentSizeLimit(GUILD_A, limit);
    try {
      await h.emu.selectMenu(result.id, menuOf(result).custom_id, ALICE, [String(other.drawn)]).waitForAck();
      const swapped = await waitForMessageState(h, result.id, (m) => m.attachments[0]?.id !== result.attachments[0].id, 15_000, since);
      assert.ok(swapped.attachments[0].size <= limit);
    } finally {
      h.emu.setAttachmentSizeLimit(GUILD_A, 10 * 2 ** 20);
    }
    h.emu.react(result.id, BOB, '👍');
    const keep = await h.emu.clickButton(result.id, buttonId(result, 'keep'), ALICE).waitForReply(15_000);
    assert.doesNotMatch(keep.content, /noted/);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await h.deps.stores.feedback.rows(jobId), []);
    const { exportFeedbackGroups } = await import('../../src/feedback/export-groups.ts');
    for await (const line of exportFeedbackGroups(h.deps.stores)) assert.notEqual(line.groupId, jobId);
  } finally {
    await settings('privacy', { feedback: true });
  }
});

test('while a group is scored after drawing, its status says “Scoring candidates…”, never “Drawing… 100%”', async () => {
  const engine = h.deps.engine;
  const drawAndScore = engine.generateScored;
  assert.ok(drawAndScore, 'the engine runs the scorers where it draws');
  // The drawn and scored group is held until the test has seen the status say it is being scored.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  engine.generateScored = async function held(this: typeof engine, ...args: Parameters<typeof drawAndScore>) {
    const scored = await drawAndScore.apply(this, args);
    await released;
    return scored;
  };
  try {
    const image1 = h.emu.uploadAttachment(await photo('#305070'), 'cat.png', 'image/png', CHANNEL_A);
    const since = h.emu.eventCursor();
    const { status } = await personalize(h, { options: { prompt: 'my cat in a boat', image1, seed: 5, candidates: 3 } });
    const shown: string[] = [];
    const onStatus = (e: { kind: string; message?: unknown }, last: (content: string) => boolean): boolean => {
      const m = e.message as APIMessage | undefined;
      if (e.kind !== 'message_update' || m?.id !== status.id) return false;
      shown.push(m.content);
      return last(m.content);
    };
    await h.emu.waitFor((e) => onStatus(e, (c) => c === SCORING_PROGRESS), 120_000, since);
    release();
    shown.length = 0;
    await h.emu.waitFor((e) => onStatus(e, (c) => c.startsWith('Done')), 120_000, since);
    assert.ok(shown.includes(SCORING_PROGRESS), shown.join(' | '));
    assert.ok(!shown.some((c) => c.includes('Drawing… 100%')), shown.join(' | '));
    const { result } = await waitForThreadResult(h, since, 120_000);
    assert.match(result.content, /\(3 candidates\) · scored by dino/);
  } finally {
    release();
    engine.generateScored = drawAndScore;
  }
  h.emu.assertNoViolations();
});

test('after a restart the menu still swaps the image: the group is read back from the store', async () => {
  const { result, jobId } = await firstGroup();
  await h.restart();
  const stored = (await h.deps.stores.candidates.get(jobId))!;
  const last = stored.candidates[3];
  const current = h.emu.message(result.id)!;
  const since = h.emu.eventCursor();
  await h.emu.selectMenu(result.id, menuOf(current).custom_id, ALICE, [String(last.drawn)]).waitForAck(15_000);
  const swapped = await waitForMessageState(h, result.id, (m) => m.attachments[0]?.id !== current.attachments[0].id, 15_000, since);
  assert.deepEqual(h.emu.fileBytes(swapped.attachments[0]), Buffer.from(last.data, 'base64'));
  assert.match(swapped.content, /\nCandidate 4 of 4 · /);
  h.emu.assertNoViolations();
});
