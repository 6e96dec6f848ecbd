import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { writeClipFixture, writeDinoFixture } from '../src/generator/scorers/make-scorer-fixtures.ts';
import { ClipScorer } from '../src/scoring/clip-scorer.ts';
import { DinoScorer } from '../src/scoring/dino-scorer.ts';
import { orderByRank, rankScore, scoreGroup } from '../src/scoring/ranking.ts';
import { parityPhotos } from './helpers/transformers-reference.ts';

// A candidate that copies a subject photo, prompt ignored, must not be ranked first.

test('with typical ViT-S/16 and CLIP B/32 figures, a copy loses to a candidate with both', () => {
  const photoAlignment = 0.22;
  const copy = { fidelity: 0.93, maxPhotoSimilarity: 1, alignment: 0.22 };
  const lookalike = { fidelity: 0.9, maxPhotoSimilarity: 0.96, alignment: 0.3 };
  const both = { fidelity: 0.71, maxPhotoSimilarity: 0.75, alignment: 0.31 };
  const promptOnly = { fidelity: 0.35, maxPhotoSimilarity: 0.4, alignment: 0.33 };
  const blindButNew = { fidelity: 0.8, maxPhotoSimilarity: 0.85, alignment: 0.225 };
  const scores = [copy, lookalike, both, promptOnly, blindButNew].map((s) => rankScore(s, photoAlignment));
  assert.deepEqual(scores.map((s) => s.passes), [false, false, true, true, false]);
  // Passing first; then failing ones; near-duplicates of a photo last.
  assert.deepEqual(orderByRank(scores), [2, 3, 4, 1, 0]);
});

test('when no candidate passes the prompt gate, a copy of a subject photo still does not come first', () => {
  const photoAlignment = 0.3;
  const copy = { fidelity: 0.95, maxPhotoSimilarity: 1, alignment: 0.3 };
  const weak = { fidelity: 0.6, maxPhotoSimilarity: 0.7, alignment: 0.25 };
  const weaker = { fidelity: 0.5, maxPhotoSimilarity: 0.6, alignment: 0.18 };
  const scores = [copy, weak, weaker].map((s) => rankScore(s, photoAlignment));
  assert.deepEqual(scores.map((s) => s.passes), [false, false, false]);
  assert.deepEqual(orderByRank(scores), [1, 2, 0]);
});

test('the prompt gate reads the photos\' own alignment: the same candidate passes or fails with it', () => {
  const c = { fidelity: 0.7, maxPhotoSimilarity: 0.75, alignment: 0.28 };
  assert.equal(rankScore(c, 0.2).passes, true);
  assert.equal(rankScore(c, 0.275).passes, false);
  assert.equal(rankScore(c, 0.2, { minAlignment: 0.3 }).passes, false);
});

let root: string;
let dino: DinoScorer;
let clip: ClipScorer;

async function candidateImage(seed: number): Promise<Buffer> {
  const px = Buffer.alloc(384 * 384 * 3);
  let s = seed;
  for (let i = 0; i < px.length; i++) px[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 25) + ((i / 3) % 384) / 3;
  return sharp(px, { raw: { width: 384, height: 384, channels: 3 } }).png().toBuffer();
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'xcot-copy-guard-'));
  writeDinoFixture(join(root, 'dino-vits16'));
  writeClipFixture(join(root, 'clip-vit-base-patch32'));
  dino = await DinoScorer.load(join(root, 'dino-vits16'));
  clip = await ClipScorer.load(join(root, 'clip-vit-base-patch32'));
});

after(async () => {
  await Promise.all([dino?.release(), clip?.release()]);
  rmSync(root, { recursive: true, force: true });
});

test('scored with the fixture models, the copy has the best fidelity and is not first', async () => {
  const photos = await parityPhotos();
  const candidates = [photos[0], await candidateImage(1), await candidateImage(2), await candidateImage(3)];
  // Random weights put unrelated text near cosine 0: the absolute floor is for real CLIP only.
  const group = await scoreGroup({ candidates, subjectPhotos: photos, prompt: 'a red backpack on a mountain', subject: dino, promptScorer: clip, options: { minAlignment: -1 } });
  const [copy, ...others] = group.candidates;
  assert.ok(others.every((o) => copy.fidelity > o.fidelity), 'the copy must have the top fidelity, or this test shows nothing');
  assert.ok(Math.abs(copy.maxPhotoSimilarity - 1) < 1e-6);
  assert.ok(copy.alignment <= group.photoAlignment + 1e-9);
  assert.equal(copy.passes, false);
  assert.notEqual(group.order[0], 0);
  assert.equal(group.candidates[group.order[0]].passes, true);
  assert.equal(group.order.at(-1), 0);
});
