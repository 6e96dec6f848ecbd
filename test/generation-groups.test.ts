/**
 * The GenerationService's groups of candidates: drawn in one batch, ranked by the scorer it was
 * given (the self-judge here, in-process), only the best in the outcome's generation, the whole
 * group kept in the store with its images; a scorer the engine cannot run leaves the group unranked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { JobQueue } from '../src/jobs/in-process/job-queue.ts';
import { GenerationService } from '../src/jobs/in-process/generation-service.ts';
import { openStores, type Stores } from '../src/store/index.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';
import { parityPhotos } from './helpers/transformers-reference.ts';

const OWNER = '1300000000000000011';
const CHANNEL = '1200000000000000012';

let p: Personalizer;
let stores: Stores;
let dataDir: string;
let hashes: string[];

before(async () => {
  p = await Personalizer.load(tinyBundle(1), { intraOpThreads: 1 });
  dataDir = mkdtempSync(join(tmpdir(), 'xcot-groups-'));
  stores = await openStores({ dataDir });
  hashes = [];
  for (const bytes of await parityPhotos()) hashes.push(await stores.photos.putPhoto(bytes, 'job:fixture'));
});

after(async () => {
  await p.close();
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
  removeTinyBundles();
});

async function run(scorer: 'self' | 'dino', seed: number) {
  const service = new GenerationService(p, stores, new JobQueue({ concurrency: 1, maxWaitingPerUser: 5, maxQueueLength: 10 }), { scorer });
  const job = await stores.jobs.create({ ownerId: OWNER, guildId: null, channelId: CHANNEL, prompt: 'a dog on the moon', seed, options: {}, candidates: 3, photoHashes: hashes });
  return { job, outcome: await service.submit(job).result };
}

test('the self-judge ranks a group of 3: the best alone in the generation, all kept with tokens, scores and images', async () => {
  const { job, outcome } = await run('self', 20);
  assert.ok(outcome.group);
  assert.equal(outcome.group.scorer, 'self');
  assert.equal(outcome.group.candidates.length, 3);
  assert.equal(outcome.generation.images.length, 1);
  assert.equal(outcome.generation.images[0].seed, outcome.group.candidates[0].seed);
  for (const c of outcome.group.candidates) {
    assert.ok(c.scores && c.scores.fidelity >= 0 && c.scores.fidelity <= 1 && c.scores.alignment >= 0 && c.scores.alignment <= 1, 'P(yes) in [0, 1]');
  }
  const stored = await stores.candidates.get(job.id);
  assert.ok(stored);
  assert.equal(stored.scorer, 'self');
  assert.equal(stored.feedback, true);
  assert.deepEqual(stored.subjectPhotoHashes, hashes);
  assert.deepEqual(stored.candidates.map((c) => c.seed).sort(), [20, 21, 22]);
  assert.deepEqual(stored.candidates.map((c) => c.imageTokens), outcome.group.candidates.map((c) => [...c.imageTokens]));
  assert.deepEqual(Buffer.from(stored.candidates[0].data, 'base64'), Buffer.from(outcome.generation.images[0].data));
  assert.ok(stored.grounding.length > 0);
});

test('an embedding scorer the in-process engine does not run: the group comes back unranked with the reason', async () => {
  const { job, outcome } = await run('dino', 30);
  assert.equal(outcome.group?.scorer, null);
  const stored = await stores.candidates.get(job.id);
  assert.equal(stored?.reason, 'this engine cannot run the embedding scorers');
  assert.deepEqual(stored?.candidates.map((c) => c.drawn), [0, 1, 2]);
});
