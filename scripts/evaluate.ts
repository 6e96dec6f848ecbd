/**
 * `npm run evaluate`: DreamBench's DINO, CLIP-I and CLIP-T for the X-CoT pipeline on a
 * DreamBench-layout folder, without and with reranking a group of candidates. Every prompt's
 * result is its own file (written last, atomically), so a run stopped anywhere resumes where it
 * stopped; progress.log records each one done.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contactSheet } from '../src/cli/contact-sheet.ts';
import { EVALUATE_USAGE, parseEvaluateArgs, type EvaluateArgs } from '../src/cli/evaluate-args.ts';
import { InputError, UserFacingError } from '../src/errors.ts';
import { rankCandidates, type GroupScoring } from '../src/pipeline/candidate-group.ts';
import { Personalizer, type Grounding, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { selfJudgeScorer } from '../src/pipeline/self-judge-ranking.ts';
import { DreamBenchMetrics } from '../src/scoring/dreambench-metrics.ts';
import { readDreamBenchSet, type BenchSubject } from '../src/scoring/dreambench-set.ts';
import { benchTable, type BenchResult } from '../src/scoring/dreambench-table.ts';
import { embeddingGroupScorer, type GroupScorer } from '../src/scoring/group-scorer.ts';
import { loadScorers, type LoadedScorers } from '../src/scoring/load-scorers.ts';
import type { EmbeddingScorerKind } from '../src/model-kinds.ts';

const log = (line: string) => process.stderr.write(`[evaluate] ${line}\n`);
const f3 = (x: number) => x.toFixed(3);

function writeAtomic(path: string, data: string | Buffer): void {
  writeFileSync(`${path}.partial`, data);
  renameSync(`${path}.partial`, path);
}

async function main(args: EvaluateArgs): Promise<void> {
  const subjects = asInputError(() => readDreamBenchSet(args.set, args.uniqueToken)).map((s) => ({ ...s, prompts: s.prompts.slice(0, args.prompts ?? s.prompts.length) }));
  const total = subjects.reduce((n, s) => n + s.prompts.length, 0);
  mkdirSync(join(args.out, 'results'), { recursive: true });
  const resultPath = (s: BenchSubject, i: number) => join(args.out, 'results', s.name, `${String(i).padStart(2, '0')}.json`);
  const done = subjects.reduce((n, s) => n + s.prompts.filter((_, i) => existsSync(resultPath(s, i))).length, 0);
  log(`${subjects.length} subjects, ${total} prompts, ${args.candidates} candidates each; ${done} done already${done ? ' (resuming)' : ''}`);

  const metrics = await DreamBenchMetrics.load(args.scorers).catch((err: Error) => asInputError(() => {
    throw err;
  }));
  let rerankers: LoadedScorers | undefined;
  let p: Personalizer | undefined;
  try {
    let count = done;
    for (const subject of subjects) {
      const todo = subject.prompts.map((_, i) => i).filter((i) => !existsSync(resultPath(subject, i)));
      if (todo.length === 0) continue;
      p ??= await Personalizer.load(args.model, { device: args.device });
      if (!rerankers && (args.scorer === 'dino' || args.scorer === 'clip')) rerankers = await loadScorers(args.scorers);
      const photos = subject.photos.map((path) => ({ bytes: readFileSync(path), name: path }));
      const prepared = await p.prepareImages(photos);
      const grounding = await groundOnce(p, args, subject, prepared);
      const model = p;
      const reranker: GroupScorer | null =
        args.scorer === 'self' ? selfJudgeScorer((c, prompt) => model.judge(prepared, c, prompt)) : rerankers && args.scorer !== 'none' ? embeddingGroupScorer(rerankers, args.scorer as EmbeddingScorerKind, args.scorers) : null;
      mkdirSync(join(args.out, 'images', subject.name), { recursive: true });
      mkdirSync(join(args.out, 'results', subject.name), { recursive: true });
      for (const i of todo) {
        const prompt = subject.prompts[i];
        const started = performance.now();
        const drawn = await model.generate({ prompt, subject: prepared, subjectContext: { name: subject.className }, grounding: grounding.text, candidates: args.candidates, seed: args.seed + i * args.candidates });
        const scoring: GroupScoring = reranker ? { scorer: reranker, subjectPhotos: photos.map((ph) => ph.bytes), prompt } : { unranked: '--scorer none' };
        const group = await rankCandidates(drawn.images, scoring);
        const figures = await metrics.measure(group.candidates.map((c) => c.data), photos.map((ph) => ph.bytes), prompt);
        const candidates = group.candidates.map((c, k) => {
          const path = join(args.out, 'images', subject.name, `${String(i).padStart(2, '0')}-${c.drawn}.png`);
          writeAtomic(path, c.data);
          return { drawn: c.drawn, seed: c.seed, path, rank: c.rank ?? null, figures: figures[k] };
        });
        const result: BenchResult = { subject: subject.name, className: subject.className, promptIndex: i, prompt, rerankedBy: group.scorer, candidates };
        writeAtomic(resultPath(subject, i), `${JSON.stringify(result, null, 1)}\n`);
        appendFileSync(join(args.out, 'progress.log'), `${new Date().toISOString()} done ${subject.name} ${i} ${JSON.stringify(prompt)}\n`);
        const best = candidates[0].figures;
        log(`${++count}/${total} ${subject.name} "${prompt}": best DINO ${f3(best.dino)} CLIP-I ${f3(best.clipI)} CLIP-T ${f3(best.clipT)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      }
      p.clearCaches();
    }
    await report(args, subjects, resultPath);
  } finally {
    await metrics.release();
    await Promise.all([rerankers?.dino?.release(), rerankers?.clip?.release()]);
    await p?.close();
  }
}

/** A problem with the folders given is the user's to fix: one line, exit 2. */
function asInputError<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new InputError('usage', (err as Error).message);
  }
}

/** One grounding per subject, kept with the results (a resumed run does not ground again). */
async function groundOnce(p: Personalizer, args: EvaluateArgs, subject: BenchSubject, prepared: SubjectImages): Promise<Grounding> {
  const path = join(args.out, 'results', subject.name, 'grounding.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Grounding;
  const g = await p.ground(prepared, { name: subject.className });
  mkdirSync(join(args.out, 'results', subject.name), { recursive: true });
  writeAtomic(path, JSON.stringify(g));
  return g;
}

/** table.md, summary.json and contact-sheet.png from every result file. */
async function report(args: EvaluateArgs, subjects: BenchSubject[], resultPath: (s: BenchSubject, i: number) => string): Promise<void> {
  const results = subjects.flatMap((s) => s.prompts.map((_, i) => JSON.parse(readFileSync(resultPath(s, i), 'utf8')) as BenchResult));
  const table = benchTable(results, { method: 'Janus X-CoT', reranker: args.scorer, candidates: args.candidates });
  const note =
    args.scorer === 'dino' || args.scorer === 'clip'
      ? `\nReranked by ${args.scorer}: the reranker shares a model with a metric, so that metric's reranked figure is optimistic.\n`
      : '';
  writeAtomic(join(args.out, 'table.md'), `# DreamBench (${results.length} prompts, ${args.candidates} candidates each)\n\n${table}${note}`);
  writeAtomic(join(args.out, 'summary.json'), `${JSON.stringify({ args, results: results.length }, null, 1)}\n`);
  const rows = subjects.map((s) => ({
    photo: readFileSync(s.photos[0]),
    results: results.filter((r) => r.subject === s.name).map((r) => readFileSync((r.candidates.find((c) => c.rank === 1) ?? r.candidates[0]).path)),
  }));
  writeAtomic(join(args.out, 'contact-sheet.png'), await contactSheet(rows));
  process.stdout.write(table);
  log(`wrote ${join(args.out, 'table.md')} and ${join(args.out, 'contact-sheet.png')}`);
}

try {
  const args = parseEvaluateArgs(process.argv.slice(2));
  if (args === 'help') process.stdout.write(`${EVALUATE_USAGE}\n`);
  else await main(args);
} catch (err) {
  if (err instanceof UserFacingError) {
    process.stderr.write(`evaluate: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`evaluate: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
}
