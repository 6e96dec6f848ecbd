/**
 * Feedback rows and candidate groups in the store: kept per user and per job, summed into export
 * lines that validate against the published schema, and deleted with their job (retention, Delete)
 * and with their user (forget-me).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportFeedbackGroups } from '../src/feedback/export-groups.ts';
import { FeedbackGroupSchema, type FeedbackGroup } from '../src/feedback/export-schema.ts';
import { openStores, type CandidateGroupRecord, type Stores } from '../src/store/index.ts';

const OWNER = '1300000000000000011';
const FAN = '1300000000000000012';
const GUILD = '1200000000000000011';
const CHANNEL = '1200000000000000012';
const HASH = 'a'.repeat(64);

async function withStores(fn: (stores: Stores, clock: { t: number }) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xcot-feedback-'));
  const clock = { t: Date.UTC(2026, 10, 1) };
  const stores = await openStores({ dataDir, now: () => clock.t });
  try {
    await fn(stores, clock);
  } finally {
    await stores.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function groupJob(stores: Stores, tokens = 5): Promise<string> {
  const job = await stores.jobs.create({ ownerId: OWNER, guildId: GUILD, channelId: CHANNEL, prompt: 'a dog on the moon', seed: 40, options: { cfgWeight: 5 }, candidates: 2 });
  await stores.jobs.update(job.id, { status: 'done' });
  const record: CandidateGroupRecord = {
    version: 1,
    jobId: job.id,
    modelId: 'janus-pro-1b',
    grounding: 'a brown dog',
    subjectPhotoHashes: [HASH],
    scorer: 'dino',
    photoAlignment: 0.1,
    scoringMs: 12,
    feedback: true,
    shown: 1,
    candidates: [1, 0].map((drawn, i) => ({
      drawn,
      rank: i + 1,
      seed: 40 + drawn,
      imageTokens: Array.from({ length: tokens }, (_, k) => k + drawn),
      scores: { fidelity: 0.7 - i / 10, alignment: 0.3, passes: true },
      data: Buffer.from('png').toString('base64'),
      format: 'png',
    })),
  };
  await stores.candidates.put(record);
  return job.id;
}

test('signals are summed per candidate into a line that validates; the token count comes from the record', async () => {
  await withStores(async (stores) => {
    const jobId = await groupJob(stores, 7);
    await stores.feedback.record(jobId, OWNER, { kind: 'pick', drawn: 1 });
    await stores.feedback.record(jobId, OWNER, { kind: 'thumb', drawn: 1, thumb: 'up', on: true });
    await stores.feedback.record(jobId, FAN, { kind: 'thumb', drawn: 1, thumb: 'up', on: true });
    await stores.feedback.record(jobId, FAN, { kind: 'thumb', drawn: 0, thumb: 'down', on: true });
    await stores.feedback.record(jobId, OWNER, { kind: 'refined', drawn: 0 });
    const lines: FeedbackGroup[] = [];
    for await (const line of exportFeedbackGroups(stores)) lines.push(FeedbackGroupSchema.parse(JSON.parse(JSON.stringify(line))));
    assert.equal(lines.length, 1);
    const [best, other] = lines[0].candidates;
    assert.equal(best.imageTokenCount, 7);
    assert.deepEqual(best.signals, { picked: true, thumbsUp: 2, thumbsDown: 0, regenerated: false, refined: false });
    assert.deepEqual(other.signals, { picked: false, thumbsUp: 0, thumbsDown: 1, regenerated: false, refined: true });
    assert.deepEqual(lines[0].sampling, { seed: 40, cfgWeight: 5, temperature: 1, topK: null, greedy: false, uncond: 'janus' });
    assert.throws(() => FeedbackGroupSchema.parse({ ...lines[0], candidates: [{ ...best, imageTokenCount: 576 }] }), /imageTokenCount/);
  });
});

test('--since leaves out older groups', async () => {
  await withStores(async (stores, clock) => {
    await groupJob(stores);
    clock.t += 86_400_000;
    const newer = await groupJob(stores);
    const ids: string[] = [];
    for await (const line of exportFeedbackGroups(stores, { since: clock.t })) ids.push(line.groupId);
    assert.deepEqual(ids, [newer]);
  });
});

test('job retention deletes the group and every row about it; forget-me deletes a user’s rows and index', async () => {
  await withStores(async (stores, clock) => {
    const old = await groupJob(stores);
    await stores.feedback.record(old, FAN, { kind: 'thumb', drawn: 1, thumb: 'up', on: true });
    clock.t += 31 * 86_400_000;
    const kept = await groupJob(stores);
    await stores.feedback.record(kept, FAN, { kind: 'thumb', drawn: 1, thumb: 'down', on: true });
    await stores.feedback.record(kept, OWNER, { kind: 'pick', drawn: 0 });
    assert.equal(await stores.jobs.cleanup(), 1);
    assert.equal(await stores.candidates.get(old), undefined);
    assert.deepEqual(await stores.feedback.rows(old), []);
    assert.equal((await stores.feedback.rows(kept)).length, 2);

    await stores.forgetUser(FAN);
    assert.deepEqual((await stores.feedback.rows(kept)).map((r) => r.userId), [OWNER]);
    assert.ok(!(await stores.store.keys('feedback')).some((k) => k.includes(FAN)));
    await stores.forgetUser(OWNER);
    assert.deepEqual(await stores.store.keys('feedback'), []);
    assert.equal(await stores.candidates.get(kept), undefined);
  });
});

test('the Delete button drops the candidates’ images with the result', async () => {
  await withStores(async (stores) => {
    const jobId = await groupJob(stores);
    await stores.jobs.markDeleted(jobId, 'owner');
    assert.equal(await stores.candidates.get(jobId), undefined);
  });
});
