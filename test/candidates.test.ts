/**
 * Groups of candidates: drawn in one batch with their seeds and image tokens, scored and ordered
 * best first (embedding scorers in-process and in the engine's workers, the self-judge), or left
 * unranked with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { WorkerEngine } from '../src/runtime/worker-engine.ts';
import { drawJobGroup } from '../src/jobs/group-ranking.ts';
import { CancelledError, InputError } from '../src/errors.ts';
import { writeClipFixture, writeDinoFixture } from '../src/generator/scorers/make-scorer-fixtures.ts';
import { rankCandidates } from '../src/pipeline/candidate-group.ts';
import { Personalizer, type Generation, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { rankSelfJudgement, selfJudgeScorer } from '../src/pipeline/self-judge-ranking.ts';
import { ClipScorer } from '../src/scoring/clip-scorer.ts';
import { DinoScorer } from '../src/scoring/dino-scorer.ts';
import { embeddingGroupScorer } from '../src/scoring/group-scorer.ts';
import { loadScorers, type LoadedScorers } from '../src/scoring/load-scorers.ts';
import { scoreGroup } from '../src/scoring/ranking.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';
import { parityPhotos } from './helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit';
const SEED = 40;
// Random-weight CLIP puts every prompt near cosine 0: the absolute floor is for real CLIP only.
const FIXTURE_RANK = { minAlignment: -1 };

let p: Personalizer;
let scorerDir: string;
let scorers: LoadedScorers;
let photos: Buffer[];
let subject: SubjectImages;
let group: Generation;

before(async () => {
  scorerDir = mkdtempSync(join(tmpdir(), 'xcot-candidates-'));
  writeDinoFixture(join(scorerDir, 'dino-vits16'));
  writeClipFixture(join(scorerDir, 'Xenova', 'clip-vit-base-patch32'));
  p = await Personalizer.load(tinyBundle(1), { intraOpThreads: 1 });
  scorers = await loadScorers(scorerDir, { threads: 1 });
  photos = await parityPhotos();
  subject = await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
  group = await p.generate({ prompt: PROMPT, subject, candidates: 5, seed: SEED });
});

after(async () => {
  await p.close();
  await Promise.all([scorers.dino?.release(), scorers.clip?.release()]);
  rmSync(scorerDir, { recursive: true, force: true });
  removeTinyBundles();
});

test('a group of 5 (more than count allows) is drawn in one batch: each candidate its seed, 576 tokens, as if drawn alone', async () => {
  assert.equal(group.images.length, 5);
  assert.deepEqual(group.images.map((i) => i.seed), [40, 41, 42, 43, 44]);
  for (const image of group.images) assert.equal(image.imageTokens.length, 576);
  const alone = await p.generate({ prompt: PROMPT, subject, seed: SEED + 3 });
  assert.deepEqual(group.images[3].imageTokens, alone.images[0].imageTokens);
  assert.ok(group.images[3].data.equals(alone.images[0].data));
  await assert.rejects(p.generate({ prompt: PROMPT, candidates: 9 }), (e) => e instanceof InputError && /1 to 8/.test(e.message));
});

test('ranked with DINO: best first, each candidate keeps its seed and tokens, scores as scoreGroup gives them', async () => {
  const scorer = embeddingGroupScorer(scorers, 'dino', scorerDir, FIXTURE_RANK);
  const ranked = await rankCandidates(group.images, { scorer, subjectPhotos: photos, prompt: PROMPT });
  assert.equal(ranked.ranked, true);
  assert.equal(ranked.scorer, 'dino+clip-t');
  assert.deepEqual(ranked.candidates.map((c) => c.rank), [1, 2, 3, 4, 5]);
  const ranks = ranked.candidates.map((c) => c.scores!.rank);
  assert.deepEqual([...ranks].sort((a, b) => b - a), ranks, 'not ordered best first');
  assert.deepEqual(new Set(ranked.candidates.map((c) => c.drawn)), new Set([0, 1, 2, 3, 4]));
  for (const c of ranked.candidates) {
    assert.equal(c.seed, SEED + c.drawn);
    assert.deepEqual(c.imageTokens, group.images[c.drawn].imageTokens);
  }
  // The same figures straight from the scorer classes, one image at a time.
  const dino = scorers.dino as DinoScorer;
  const clip = scorers.clip as ClipScorer;
  for (const c of ranked.candidates) {
    assert.ok(Math.abs(c.scores!.fidelity - (await dino.fidelity(c.data, photos))) < 1e-6);
    assert.ok(Math.abs(c.scores!.alignment - (await clip.alignment(c.data, PROMPT))) < 1e-6);
  }
  // The order is not simply the drawing order on these fixtures (else this test shows little).
  assert.notDeepEqual(ranked.candidates.map((c) => c.drawn), [0, 1, 2, 3, 4]);
});

test('a copy of a subject photo put in the group is not first', async () => {
  const images = [{ ...group.images[0], data: photos[0] }, ...group.images.slice(1)];
  const ranked = await rankCandidates(images, { scorer: embeddingGroupScorer(scorers, 'clip', scorerDir, FIXTURE_RANK), subjectPhotos: photos, prompt: PROMPT });
  const copy = ranked.candidates.find((c) => c.drawn === 0)!;
  assert.equal(copy.scores!.passes, false);
  assert.notEqual(ranked.candidates[0].drawn, 0);
});

test('without a scorer the group comes back in drawing order, unranked, with the reason', async () => {
  const unranked = await rankCandidates(group.images, { unranked: 'no scorers configured (SCORER_DIR)' });
  assert.equal(unranked.ranked, false);
  assert.equal(unranked.reason, 'no scorers configured (SCORER_DIR)');
  assert.deepEqual(unranked.candidates.map((c) => c.drawn), [0, 1, 2, 3, 4]);
  assert.ok(unranked.candidates.every((c) => c.rank === undefined && c.scores === undefined));
});

test('a scorer whose folder is missing is refused with what is missing', () => {
  const noDino: LoadedScorers = { clip: scorers.clip, missing: ['dino-vits16'] };
  assert.throws(() => embeddingGroupScorer(noDino, 'dino', '/some/dir'), (e) => e instanceof InputError && /dino-vits16\/ in \/some\/dir/.test(e.message));
  assert.doesNotThrow(() => embeddingGroupScorer(noDino, 'clip', '/some/dir'));
});

test('the self-judge ranks by its P(yes) scores; a photo judged as a candidate does not pass the gain gate', async () => {
  const candidates = [photos[0], ...group.images.slice(0, 2).map((i) => i.data)];
  const judged = await p.judge(subject, candidates, PROMPT);
  const ranked = rankSelfJudgement(judged);
  // The copy is asked the prompt question exactly as that photo was: no gain, never passes.
  assert.equal(judged.alignment[0], judged.photoAlignment[0]);
  assert.equal(ranked.candidates[0].passes, false);
  const viaScorer = await selfJudgeScorer((c, prompt) => p.judge(subject, c, prompt)).score({ candidates, subjectPhotos: [], prompt: PROMPT });
  assert.deepEqual(viaScorer, ranked);
});

test('in the engine workers: a group drawn with a scorer is scored in the drawing worker as the in-process scorers score it; judge gives what the in-process judge gives', async () => {
  const engine = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1, scorerDir });
  const bare = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1 });
  try {
    const workerSubject = await engine.prepareImages(photos.map((bytes) => ({ bytes })));
    const drawn = await engine.generateScored({ prompt: PROMPT, subject: workerSubject, candidates: 3, seed: SEED }, 'dino');
    assert.ok('scores' in drawn.scoring, JSON.stringify(drawn.scoring));
    const candidates = drawn.images.map((i) => i.data);
    const here = await scoreGroup({ candidates, subjectPhotos: photos, prompt: PROMPT, subject: scorers.dino!, promptScorer: scorers.clip! });
    const inWorker = drawn.scoring.scores;
    assert.deepEqual(inWorker.order, here.order);
    inWorker.candidates.forEach((c, i) => assert.ok(Math.abs(c.fidelity - here.candidates[i].fidelity) < 1e-6 && Math.abs(c.alignment - here.candidates[i].alignment) < 1e-6));

    const judged = await engine.judge(workerSubject, candidates.slice(0, 2), PROMPT);
    const local = await p.judge(subject, candidates.slice(0, 2), PROMPT);
    judged.fidelity.forEach((v, i) => assert.ok(Math.abs(v - local.fidelity[i]) < 1e-6));

    // Without a scorers folder the images still come back, with why they are not scored.
    const bareSubject = await bare.prepareImages(photos.map((bytes) => ({ bytes })));
    const unscored = await bare.generateScored({ prompt: PROMPT, subject: bareSubject, candidates: 2, seed: SEED }, 'clip');
    assert.equal(unscored.images.length, 2);
    assert.ok('failed' in unscored.scoring && /SCORER_DIR/.test(unscored.scoring.failed), JSON.stringify(unscored.scoring));
  } finally {
    await Promise.all([engine.close(), bare.close()]);
  }
});

test('a group cancelled after its last drawing step, while its worker scores it, ends with CancelledError, not an unranked group', async () => {
  const engine = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1, scorerDir });
  try {
    const workerSubject = await engine.prepareImages(photos.map((bytes) => ({ bytes })));
    const ac = new AbortController();
    const drawing = engine.generateScored({ prompt: PROMPT, subject: workerSubject, candidates: 3, seed: SEED, signal: ac.signal, onStep: (done, total) => done === total && ac.abort() }, 'dino');
    await assert.rejects(drawing, (e) => e instanceof CancelledError);
    assert.deepEqual(engine.status().map((s) => s.pending), [0]);
  } finally {
    await engine.close();
  }
});

test('a job\'s group crosses from its engine worker once: drawJobGroup sends only the generate, no images back to a worker, and the group comes ranked', async () => {
  const engine = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1, scorerDir });
  const sent: { op: string; bytes: number }[] = [];
  const postMessage = Worker.prototype.postMessage;
  try {
    const workerSubject = await engine.prepareImages(photos.map((bytes) => ({ bytes })));
    Worker.prototype.postMessage = function counted(this: Worker, ...args: Parameters<Worker['postMessage']>) {
      const [value, transfer] = args;
      const op = (value as { op?: string }).op ?? '?';
      const bytes = (Array.isArray(transfer) ? transfer : []).reduce((n: number, t) => n + (t instanceof ArrayBuffer ? t.byteLength : 0), 0);
      if (op !== 'ping') sent.push({ op, bytes });
      postMessage.apply(this, args);
    };
    const signal = new AbortController().signal;
    const { generation, group } = await drawJobGroup(engine, 'dino', { prompt: PROMPT, subject: workerSubject, candidates: 4, seed: SEED, signal }, { subject: workerSubject, photos, prompt: PROMPT, signal });
    Worker.prototype.postMessage = postMessage;
    assert.deepEqual(sent, [{ op: 'generate', bytes: 0 }]);
    assert.equal(generation.images.length, 4);
    assert.equal(group.ranked, true);
    assert.equal(group.scorer, 'dino');
    assert.deepEqual(group.candidates.map((c) => c.rank), [1, 2, 3, 4]);
    assert.deepEqual([...group.candidates.map((c) => c.drawn)].sort(), [0, 1, 2, 3]);
    const here = await scoreGroup({ candidates: generation.images.map((i) => i.data), subjectPhotos: photos, prompt: PROMPT, subject: scorers.dino!, promptScorer: scorers.clip! });
    assert.deepEqual(group.candidates.map((c) => c.drawn), here.order);
  } finally {
    Worker.prototype.postMessage = postMessage;
    await engine.close();
  }
});
