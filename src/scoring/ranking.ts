import type { PromptScorer, ScorerImage, SubjectScorer } from './types.ts';
import { mean } from './vectors.ts';

/**
 * Ranking a group of candidates so that a copy of a subject photo cannot win.
 *
 * Fidelity alone rewards copying: a candidate that reproduces a subject photo and ignores the
 * prompt has the best fidelity possible. So fidelity only counts for a candidate that PASSES the
 * prompt gate:
 *
 * - its alignment is at least `minAlignment` (absolute CLIP-T cosine), and
 * - its alignment beats the subject photos' own alignment with the prompt (the best photo's) by at
 *   least `minGain`: the prompt asks for something the photos do not show already, and a copy of
 *   a photo scores exactly that photo's alignment, so it never passes when minGain > 0, and
 * - it is not a near-duplicate of one photo: its similarity to every single photo is below
 *   `copySimilarity`.
 *
 * rank = fidelity + alignment          for a candidate that passes, in [-2, 2];
 * rank = alignment - 3                 for one that does not, in [-4, -2];
 * rank = alignment - 5                 for a near-duplicate of a photo, in [-6, -4].
 *
 * Every passing candidate outranks every failing one, and every failing one outranks a copy (so a
 * copy cannot come first even when no candidate passes); within each band only alignment counts.
 * Both parts are absolute cosines, so rank compares across requests made with the same models.
 */
export interface RankOptions {
  /** Default 0.2: below it CLIP ViT-B/32 is at the level of unrelated text. Other models need their own. */
  minAlignment?: number;
  /** Default 0.01 (CLIP-T cosine above the best subject photo's). */
  minGain?: number;
  /** Default 0.95 (DINO or CLIP-I cosine with one photo that counts as a copy). */
  copySimilarity?: number;
}

export const DEFAULT_RANK_OPTIONS: Required<RankOptions> = { minAlignment: 0.2, minGain: 0.01, copySimilarity: 0.95 };

export interface CandidateScore {
  /** Mean similarity to the subject photos, [-1, 1]. */
  fidelity: number;
  /** Highest similarity to one subject photo, [-1, 1]. */
  maxPhotoSimilarity: number;
  /** CLIP-T, [-1, 1]. */
  alignment: number;
  passes: boolean;
  /** See the rule above; higher is better. */
  rank: number;
}

export interface GroupScores {
  candidates: CandidateScore[];
  /** The best subject photo's own alignment with the prompt (the gain baseline). */
  photoAlignment: number;
  /** Candidate indices, best first. */
  order: number[];
}

export function rankScore(
  s: { fidelity: number; maxPhotoSimilarity: number; alignment: number },
  photoAlignment: number,
  options: RankOptions = {},
): { passes: boolean; rank: number } {
  const o = { ...DEFAULT_RANK_OPTIONS, ...options };
  const passes = s.alignment >= o.minAlignment && s.alignment >= photoAlignment + o.minGain && s.maxPhotoSimilarity < o.copySimilarity;
  const copy = s.maxPhotoSimilarity >= o.copySimilarity;
  return { passes, rank: passes ? s.fidelity + s.alignment : copy ? s.alignment - 5 : s.alignment - 3 };
}

/** Indices sorted by rank, best first; ties keep the drawing order. */
export function orderByRank(scores: readonly { rank: number }[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b].rank - scores[a].rank || a - b);
}

/**
 * Scores a group: fidelity from `subject` (DINO or CLIP-I), alignment of the candidates and of the
 * subject photos from `prompt` (CLIP-T), then the ranking above.
 */
export async function scoreGroup(args: {
  candidates: readonly ScorerImage[];
  subjectPhotos: readonly ScorerImage[];
  prompt: string;
  subject: SubjectScorer;
  promptScorer: PromptScorer;
  options?: RankOptions;
}): Promise<GroupScores> {
  const { candidates, subjectPhotos, prompt, subject, promptScorer, options } = args;
  if (subjectPhotos.length === 0) throw new Error('scoreGroup needs at least one subject photo');
  const [sims, aligns] = await Promise.all([
    subject.similarities(candidates, subjectPhotos),
    promptScorer.alignments([...candidates, ...subjectPhotos], prompt),
  ]);
  const photoAlignment = Math.max(...aligns.slice(candidates.length));
  const scores = candidates.map((_, i) => {
    const s = { fidelity: mean(sims[i]), maxPhotoSimilarity: Math.max(...sims[i]), alignment: aligns[i] };
    return { ...s, ...rankScore(s, photoAlignment, options) };
  });
  return { candidates: scores, photoAlignment, order: orderByRank(scores) };
}
