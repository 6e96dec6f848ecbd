import { meanFigures, type BenchFigures } from './dreambench-metrics.ts';

/** One prompt of one subject, evaluated: its candidates' figures and which one reranking picked. */
export interface BenchResult {
  subject: string;
  className: string;
  promptIndex: number;
  prompt: string;
  /** The reranker's name, or null when the group was left unranked. */
  rerankedBy: string | null;
  candidates: { drawn: number; seed: number; path: string; rank: number | null; figures: BenchFigures }[];
}

/** The candidate shown without reranking (the first drawn) and with it (rank 1, else the first drawn). */
export function picks(r: BenchResult): { first: BenchFigures; reranked: BenchFigures } {
  const first = r.candidates.find((c) => c.drawn === 0) ?? r.candidates[0];
  const best = r.candidates.find((c) => c.rank === 1) ?? first;
  return { first: first.figures, reranked: best.figures };
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/**
 * Markdown: per subject, then overall in the papers' format (DINO, CLIP-I, CLIP-T, each the mean
 * over every evaluated prompt), without reranking (the first candidate drawn) and with it.
 */
export function benchTable(results: readonly BenchResult[], label: { method: string; reranker: string; candidates: number }): string {
  const subjects = [...new Set(results.map((r) => r.subject))].sort();
  const lines = [
    `| subject | class | prompts | DINO | CLIP-I | CLIP-T | DINO, reranked | CLIP-I, reranked | CLIP-T, reranked |`,
    `|---|---|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const s of subjects) {
    const rows = results.filter((r) => r.subject === s);
    const first = meanFigures(rows.map((r) => picks(r).first));
    const best = meanFigures(rows.map((r) => picks(r).reranked));
    lines.push(`| ${s} | ${rows[0].className} | ${rows.length} | ${f3(first.dino)} | ${f3(first.clipI)} | ${f3(first.clipT)} | ${f3(best.dino)} | ${f3(best.clipI)} | ${f3(best.clipT)} |`);
  }
  const first = meanFigures(results.map((r) => picks(r).first));
  const best = meanFigures(results.map((r) => picks(r).reranked));
  return [
    ...lines,
    '',
    `| Method | DINO ↑ | CLIP-I ↑ | CLIP-T ↑ |`,
    `|---|---:|---:|---:|`,
    `| ${label.method} (first of ${label.candidates}) | ${f3(first.dino)} | ${f3(first.clipI)} | ${f3(first.clipT)} |`,
    `| ${label.method} (best of ${label.candidates} by ${label.reranker}) | ${f3(best.dino)} | ${f3(best.clipI)} | ${f3(best.clipT)} |`,
    '',
  ].join('\n');
}
