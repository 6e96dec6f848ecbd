/**
 * `npm run evaluate` end to end on a tiny DreamBench-layout set (two subjects, the dataset's own
 * prompts_and_classes.txt format) with the fixture bundle and fixture scorers: the figures mean
 * nothing, the pipeline is the real one. Then the parts on their own: the set reader, the table.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writeClipFixture, writeDinoFixture } from '../src/generator/scorers/make-scorer-fixtures.ts';
import { readDreamBenchSet } from '../src/scoring/dreambench-set.ts';
import { benchTable, type BenchResult } from '../src/scoring/dreambench-table.ts';
import { removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';
import { parityPhotos } from './helpers/transformers-reference.ts';

after(() => removeTinyBundles());

/** The layout and wording of google/dreambooth dataset/prompts_and_classes.txt, lists shortened. */
const LISTING = `Classes

subject_name,class
backpack,backpack
dog,dog
teapot,teapot

Prompts

Object Prompts

prompt_list = [
'a {0} {1} in the jungle'.format(unique_token, class_token),
'a {0} {1} in the snow'.format(unique_token, class_token),
'a red {0} {1}'.format(unique_token, class_token)
]

Live Subject Prompts

prompt_list = [
'a {0} {1} in the jungle'.format(unique_token, class_token),
'a {0} {1} wearing a red hat'.format(unique_token, class_token),
'a {0} {1} in a chef outfit'.format(unique_token, class_token)
]
`;

async function makeSet(dir: string): Promise<void> {
  const [png, jpg] = await parityPhotos();
  mkdirSync(join(dir, 'backpack'), { recursive: true });
  mkdirSync(join(dir, 'dog'), { recursive: true });
  writeFileSync(join(dir, 'backpack', '00.jpg'), jpg);
  writeFileSync(join(dir, 'backpack', '01.png'), png);
  writeFileSync(join(dir, 'dog', '00.jpg'), await sharp(png).negate().jpeg().toBuffer());
  writeFileSync(join(dir, 'prompts_and_classes.txt'), LISTING);
}

test('the set reader: subjects with photos, their class, the object or live prompt list, {0} dropped', async () => {
  const dir = scratchDir('bench-set');
  await makeSet(dir);
  const subjects = readDreamBenchSet(dir);
  assert.deepEqual(subjects.map((s) => [s.name, s.className, s.live, s.photos.length]), [['backpack', 'backpack', false, 2], ['dog', 'dog', true, 1]]);
  assert.deepEqual(subjects[0].prompts, ['a backpack in the jungle', 'a backpack in the snow', 'a red backpack']);
  assert.deepEqual(subjects[1].prompts, ['a dog in the jungle', 'a dog wearing a red hat', 'a dog in a chef outfit']);
  assert.equal(readDreamBenchSet(dir, 'sks')[1].prompts[1], 'a sks dog wearing a red hat');
});

test('the table: without reranking is the first drawn, with it rank 1; overall is the mean over prompts', () => {
  const fig = (x: number) => ({ dino: x, clipI: x + 0.1, clipT: x / 10 });
  const result = (subject: string, first: number, best: number): BenchResult => ({
    subject,
    className: subject,
    promptIndex: 0,
    prompt: 'p',
    rerankedBy: 'dino',
    candidates: [
      { drawn: 1, seed: 1, path: '', rank: 1, figures: fig(best) },
      { drawn: 0, seed: 0, path: '', rank: 2, figures: fig(first) },
    ],
  });
  const table = benchTable([result('a', 0.2, 0.6), result('a', 0.4, 0.8), result('b', 0.5, 0.5)], { method: 'M', reranker: 'dino', candidates: 2 });
  assert.match(table, /\| a \| a \| 2 \| 0\.300 \| 0\.400 \| 0\.030 \| 0\.700 \| 0\.800 \| 0\.070 \|/);
  assert.match(table, /\| M \(first of 2\) \| 0\.367 \| 0\.467 \| 0\.037 \|/);
  assert.match(table, /\| M \(best of 2 by dino\) \| 0\.633 \| 0\.733 \| 0\.063 \|/);
});

test('npm run evaluate on a tiny set: per-result files, progress, table, contact sheet; a second run resumes', async () => {
  const root = scratchDir('evaluate');
  const set = join(root, 'set');
  await makeSet(set);
  const scorers = join(root, 'scorers');
  writeDinoFixture(join(scorers, 'dino-vits16'));
  writeClipFixture(join(scorers, 'clip-vit-base-patch32'));
  const out = join(root, 'out');
  const script = fileURLToPath(new URL('../scripts/evaluate.ts', import.meta.url));
  const run = () =>
    spawnSync(process.execPath, ['--import', 'tsx', script, '--set', set, '--model', tinyBundle(1), '--scorers', scorers, '--candidates', '2', '--prompts', '2', '--out', out], {
      encoding: 'utf8',
    });

  const first = run();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /2 subjects, 4 prompts, 2 candidates each; 0 done already/);
  assert.match(first.stderr, /4\/4 dog "a dog wearing a red hat": best DINO -?\d\.\d{3}/);
  const results = ['backpack/00.json', 'backpack/01.json', 'dog/00.json', 'dog/01.json'].map((f) => JSON.parse(readFileSync(join(out, 'results', f), 'utf8')) as BenchResult);
  for (const r of results) {
    assert.equal(r.candidates.length, 2);
    assert.equal(r.rerankedBy, 'dino+clip-t');
    assert.deepEqual(r.candidates.map((c) => c.rank), [1, 2]);
    for (const c of r.candidates) {
      assert.ok(existsSync(c.path));
      for (const v of Object.values(c.figures)) assert.ok(v >= -1 && v <= 1);
    }
  }
  assert.equal(readFileSync(join(out, 'progress.log'), 'utf8').trim().split('\n').length, 4);
  const table = readFileSync(join(out, 'table.md'), 'utf8');
  assert.match(table, /\| backpack \| backpack \| 2 \|/);
  assert.match(table, /\| dog \| dog \| 2 \|/);
  assert.match(table, /\| Janus X-CoT \(best of 2 by dino\) \| -?\d\.\d{3} \| -?\d\.\d{3} \| -?\d\.\d{3} \|/);
  assert.equal(first.stdout, table.slice(table.indexOf('| subject')).replace(/\nReranked by[^\n]*\n$/, ''));
  const sheet = await sharp(join(out, 'contact-sheet.png')).metadata();
  // Two rows (subjects), 1 photo + 2 results per row, 128 px cells and 4 px gaps.
  assert.deepEqual([sheet.format, sheet.width, sheet.height], ['png', 4 + 3 * 132, 4 + 2 * 132]);

  // Stopped after one result of dog: only the missing one is drawn again.
  rmSync(join(out, 'results', 'dog', '01.json'));
  const kept = statSync(join(out, 'results', 'backpack', '00.json')).mtimeMs;
  const second = run();
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /3 done already \(resuming\)/);
  assert.match(second.stderr, /4\/4 dog "a dog wearing a red hat"/);
  assert.doesNotMatch(second.stderr, /backpack "/);
  assert.equal(statSync(join(out, 'results', 'backpack', '00.json')).mtimeMs, kept);
  assert.equal(readFileSync(join(out, 'progress.log'), 'utf8').trim().split('\n').length, 5);
  assert.deepEqual(readdirSync(join(out, 'results', 'dog')).sort(), ['00.json', '01.json', 'grounding.json']);

  const bad = spawnSync(process.execPath, ['--import', 'tsx', script, '--set', root, '--model', tinyBundle(1), '--scorers', scorers], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^evaluate: .*prompts_and_classes\.txt not found/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});
