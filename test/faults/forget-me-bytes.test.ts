import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import KeyvSqlite from '@keyv/sqlite';
import sharp from 'sharp';
import { openStores, SQLITE_FILE, type Stores } from '../../src/store/index.ts';
import { describe, missing, photoNeedles, scan, total, type Needle } from '../helpers/byte-scan.ts';

// "Forget me" must leave no byte of the user behind in the data folder: not in the SQLite file, not in
// its -wal and -shm files, not while the bot keeps running and not after it shuts down; and not as a
// copy inside another user's records. The scan reads every file under the data folder as raw bytes.

const A = '417250098765432101';
const B = '528361109876543212';
const G = '639472210987654323';
const CH = '740583321098765434';
const THREAD_A = '851694432109876545';
const THREAD_A_OLD = '962705543210987656';
const THREAD_B = '173816654321098767';

/** What only user A ever wrote (or what was derived from A's photos). */
const A_TEXT = {
  sharedName: 'Zorblax Quintavel',
  sharedContext: 'zq-context: hums sea shanties to marmalade jars',
  privateName: 'Mirthwick Plumbago',
  privateContext: 'mp-context: collects left-handed teaspoons',
  prompt: 'prompt: xylophonic aardvark floats over Reykjavik',
  refinement: 'refine: snorkeling giraffe conducts an overture',
  grounding: 'grounding: a person with a quokka-shaped birthmark',
  uploadPrompt: 'prompt: obsidian pelican reads tax law aloud',
  // B's job on A's shared subject copies A's name and context, and its grounding describes A's photos.
  groundingOfB: 'grounding: B-made picture of the quokka birthmark person',
};

const B_TEXT = {
  name: 'Bartholomew Keepsake',
  context: 'bk-context: owns a lighthouse made of cork',
  prompt: 'prompt: cormorant tap-dances on a lighthouse',
  promptOnShared: 'prompt: a parade of lanterns through fog',
  grounding: 'grounding: a cork lighthouse keeper',
};

/** A PNG of seeded noise: compresses poorly, so its bytes are unique and span SQLite overflow pages. */
async function noisePhoto(seed: number): Promise<Buffer> {
  const width = 64;
  const height = 48;
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < width * height * 3; i++) blocks.push(createHash('sha256').update(`${seed}:${i}`).digest());
  const raw = Buffer.concat(blocks).subarray(0, width * height * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

interface World {
  aNeedles: Needle[];
  bNeedles: Needle[];
  bSubjectId: string;
  bJobId: string;
  bJobOnSharedId: string;
  bPhotoHash: string;
}

/** Everything A and B do with the bot, as the commands and the pipeline store it. */
async function populate(stores: Stores): Promise<World> {
  const aPhotos = [await noisePhoto(1), await noisePhoto(2), await noisePhoto(3), await noisePhoto(4)];
  const bPhotos = [await noisePhoto(101), await noisePhoto(102)];
  const model = 'test-model';

  // A: a subject shared in G (edited a few times, so older copies of its record existed), a private one.
  let shared = await stores.subjects.save({ ownerId: A, guildId: G, name: 'draft name', photos: [aPhotos[0], aPhotos[1]], context: 'draft' });
  shared = await stores.subjects.rename(A, G, shared.id, A_TEXT.sharedName);
  shared = await stores.subjects.setContext(A, G, shared.id, A_TEXT.sharedContext);
  shared = await stores.subjects.share(A, G, shared.id);
  await stores.subjects.save({ ownerId: A, guildId: null, name: A_TEXT.privateName, photos: [aPhotos[2]], context: A_TEXT.privateContext });

  // A's job on the shared subject, its refinement in the thread, and a job on uploaded photos.
  const a1 = await stores.jobs.create({
    ownerId: A, guildId: G, channelId: CH, prompt: A_TEXT.prompt, seed: 7, options: {},
    subjectId: shared.id, name: shared.name, context: shared.context,
  });
  await stores.jobs.update(a1.id, { status: 'running' });
  await stores.groundings.put({ userId: A, modelId: model, photoHashes: shared.photoHashes, name: shared.name, context: shared.context }, { text: A_TEXT.grounding, tokenIds: [1, 2, 3], ms: 5 });
  await stores.jobs.update(a1.id, { status: 'done', grounding: A_TEXT.grounding, threadId: THREAD_A, messageId: '111111111111111111' });
  await stores.store.meta.set(`thread:${THREAD_A}`, { jobId: a1.id, ownerId: A });
  const a2 = await stores.jobs.create({
    ownerId: A, guildId: G, channelId: THREAD_A, threadId: THREAD_A, prompt: A_TEXT.refinement, seed: 7, options: {},
    subjectId: shared.id, name: shared.name, context: shared.context, parentId: a1.id,
  });
  await stores.jobs.update(a2.id, { status: 'done', grounding: A_TEXT.grounding });
  const uploadJobId = 'aUploadJob01';
  const uploaded = await stores.photos.putPhoto(aPhotos[3], `job:${uploadJobId}`); // as the photo intake does
  await stores.jobs.create({ id: uploadJobId, ownerId: A, guildId: null, channelId: CH, prompt: A_TEXT.uploadPrompt, seed: 3, options: {}, photoHashes: [uploaded] });
  // A's job drew a group of candidates (kept with its images), and A picked one.
  const aCandidate = Buffer.from(await noisePhoto(5)).toString('base64');
  await stores.candidates.put({
    version: 1, jobId: a1.id, modelId: model, grounding: A_TEXT.grounding, subjectPhotoHashes: shared.photoHashes, scorer: null, scoringMs: 0, feedback: true, shown: 0,
    candidates: [{ drawn: 0, seed: 7, imageTokens: [1, 2, 3], data: aCandidate, format: 'png' }],
  });
  await stores.feedback.record(a1.id, A, { kind: 'pick', drawn: 0 });
  // A thread whose job record has already expired: only the thread map still names A.
  await stores.store.meta.set(`thread:${THREAD_A_OLD}`, { jobId: 'expiredJob01', ownerId: A });

  // B: an own subject and job, and a job on A's shared subject (copies its name and context).
  const bSubject = await stores.subjects.save({ ownerId: B, guildId: G, name: B_TEXT.name, photos: [bPhotos[0]], context: B_TEXT.context });
  const bJob = await stores.jobs.create({ ownerId: B, guildId: G, channelId: CH, prompt: B_TEXT.prompt, seed: 1, options: {}, subjectId: bSubject.id, name: bSubject.name, context: bSubject.context });
  await stores.groundings.put({ userId: B, modelId: model, photoHashes: bSubject.photoHashes, name: bSubject.name, context: bSubject.context }, { text: B_TEXT.grounding, tokenIds: [4], ms: 1 });
  await stores.jobs.update(bJob.id, { status: 'done', grounding: B_TEXT.grounding, threadId: THREAD_B });
  // Reactions on B's result: A's 👍 goes with A, B's own 👎 stays.
  await stores.feedback.record(bJob.id, A, { kind: 'thumb', drawn: 0, thumb: 'up', on: true });
  await stores.feedback.record(bJob.id, B, { kind: 'thumb', drawn: 0, thumb: 'down', on: true });
  await stores.store.meta.set(`thread:${THREAD_B}`, { jobId: bJob.id, ownerId: B });
  const onShared = await stores.subjects.get(B, G, A_TEXT.sharedName);
  const bJobOnShared = await stores.jobs.create({
    ownerId: B, guildId: G, channelId: CH, prompt: B_TEXT.promptOnShared, seed: 2, options: {},
    subjectId: onShared.id, name: onShared.name, context: onShared.context,
  });
  await stores.groundings.put({ userId: B, modelId: model, photoHashes: onShared.photoHashes, name: onShared.name, context: onShared.context }, { text: A_TEXT.groundingOfB, tokenIds: [5], ms: 1 });
  await stores.jobs.update(bJobOnShared.id, { status: 'done', grounding: A_TEXT.groundingOfB });

  const aNeedles: Needle[] = [
    { label: 'A id', bytes: Buffer.from(A) },
    ...Object.entries(A_TEXT).map(([k, v]) => ({ label: `A ${k}`, bytes: Buffer.from(v) })),
    { label: 'A candidate image', bytes: Buffer.from(aCandidate.slice(400, 464)) },
  ];
  for (const [i, p] of aPhotos.entries()) aNeedles.push(...(await photoNeedles(`A photo ${i + 1}`, p)));
  const bNeedles: Needle[] = [
    { label: 'B id', bytes: Buffer.from(B) },
    ...Object.entries(B_TEXT).map(([k, v]) => ({ label: `B ${k}`, bytes: Buffer.from(v) })),
    ...(await photoNeedles('B photo 1', bPhotos[0])),
  ];
  return { aNeedles, bNeedles, bSubjectId: bSubject.id, bJobId: bJob.id, bJobOnSharedId: bJobOnShared.id, bPhotoHash: bSubject.photoHashes[0] };
}

async function checkB(stores: Stores, world: World): Promise<void> {
  const subject = await stores.subjects.get(B, G, B_TEXT.name);
  assert.equal(subject.context, B_TEXT.context);
  assert.equal((await stores.subjects.getPhotos(subject)).length, 1);
  assert.ok(await stores.photos.getPhoto(world.bPhotoHash));
  const job = await stores.jobs.get(world.bJobId);
  assert.equal(job?.prompt, B_TEXT.prompt);
  assert.equal(job?.grounding, B_TEXT.grounding);
  const cached = await stores.groundings.get({ userId: B, modelId: 'test-model', photoHashes: subject.photoHashes, name: subject.name, context: subject.context });
  assert.equal(cached?.text, B_TEXT.grounding);
  assert.deepEqual(await stores.store.meta.get(`thread:${THREAD_B}`), { jobId: world.bJobId, ownerId: B });
  // B's job on A's (now deleted) subject stays B's, without A's name, context or what was seen in A's photos.
  const onShared = await stores.jobs.get(world.bJobOnSharedId);
  assert.equal(onShared?.prompt, B_TEXT.promptOnShared);
  assert.equal(onShared?.name, undefined);
  assert.equal(onShared?.context, undefined);
  assert.equal(onShared?.grounding, undefined);
  assert.deepEqual((await stores.subjects.list(B, G)).map((s) => s.name), [B_TEXT.name]);
  assert.deepEqual((await stores.feedback.rows(world.bJobId)).map((r) => [r.userId, r.thumbs['0']]), [[B, 'down']]);
}

test('forget-me leaves none of the user\'s bytes in the data folder, while running and after shutdown; other users keep theirs', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'forget-me-bytes-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  let stores = await openStores({ dataDir });
  try {
    const world = await populate(stores);

    const before = await scan(dataDir, world.aNeedles);
    t.diagnostic(`A's bytes before forget-me: ${total(before)}`);
    // The scan can see what is there: every needle of A is found before, every needle of B throughout.
    assert.deepEqual(missing(world.aNeedles, before), []);

    const result = await stores.forgetUser(A);
    assert.deepEqual({ subjects: result.subjects, jobs: result.jobs }, { subjects: 2, jobs: 3 });

    const running = await scan(dataDir, world.aNeedles);
    t.diagnostic(`A's bytes while running, after forget-me: ${total(running)}`);
    assert.equal(total(running), 0, `A's data is still in ${dataDir} while the bot runs:\n${describe(running)}`);
    const bRunning = await scan(dataDir, world.bNeedles);
    assert.deepEqual(missing(world.bNeedles, bRunning), []);
    await checkB(stores, world);

    await stores.close();
    const closed = await scan(dataDir, world.aNeedles);
    t.diagnostic(`A's bytes after shutdown: ${total(closed)}`);
    assert.equal(total(closed), 0, `A's data is still in ${dataDir} after shutdown:\n${describe(closed)}`);
    const bClosed = await scan(dataDir, world.bNeedles);
    assert.deepEqual(missing(world.bNeedles, bClosed), []);

    stores = await openStores({ dataDir });
    await checkB(stores, world);
    assert.deepEqual(await stores.jobs.listByUser(A), []);
    assert.equal(await stores.subjects.count(A), 0);
  } finally {
    await stores.close();
  }
});

test('a data file written before deletions were zeroed loses its deleted records\' leftovers at the next open', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'forget-me-legacy-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  // The layout an older bot wrote, without secure_delete: a deleted record stays in the file's free space.
  const legacy = new KeyvSqlite({ uri: `sqlite://${join(dataDir, SQLITE_FILE)}` });
  await legacy.query('PRAGMA journal_mode=WAL');
  await legacy.set('meta:schema', '{"value":1}');
  await legacy.set(`subjects:s:oldSubject01`, JSON.stringify({ value: { ownerId: A, name: A_TEXT.privateName, context: A_TEXT.privateContext } }));
  await legacy.set(`subjects:s:keptSubject1`, JSON.stringify({ value: { ownerId: B, name: B_TEXT.name } }));
  await legacy.delete(`subjects:s:oldSubject01`);
  await legacy.query('PRAGMA wal_checkpoint(TRUNCATE)');
  await legacy.disconnect();
  const needles = [A, A_TEXT.privateName, A_TEXT.privateContext].map((v) => ({ label: v, bytes: Buffer.from(v) }));
  const before = await scan(dataDir, needles);
  assert.ok(total(before) > 0, 'the legacy file should still hold the deleted record');

  const stores = await openStores({ dataDir });
  try {
    const opened = await scan(dataDir, needles);
    assert.equal(total(opened), 0, describe(opened));
    assert.deepEqual(await stores.store.subjects.get('s:keptSubject1'), { ownerId: B, name: B_TEXT.name });
  } finally {
    await stores.close();
  }
  assert.equal(total(await scan(dataDir, needles)), 0);
});
