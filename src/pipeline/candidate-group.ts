import type { CandidateScore, GroupScores } from '../scoring/ranking.ts';
import type { GroupScorer } from '../scoring/group-scorer.ts';
import type { GeneratedImage } from './personalizer.ts';

export interface Candidate extends GeneratedImage {
  /** Its place in the drawing order (seed order), from 0. */
  drawn: number;
  /** 1 = best; absent when the group is unranked. */
  rank?: number;
  scores?: CandidateScore;
}

export interface CandidateGroup {
  /** Best first when ranked; in drawing order otherwise. */
  candidates: Candidate[];
  ranked: boolean;
  /** The scorer's name, or null when unranked. */
  scorer: string | null;
  /** Why the group is unranked. */
  reason?: string;
  /** The subject photos' own alignment with the prompt (the copy guard's baseline). */
  photoAlignment?: number;
  scoringMs: number;
}

export type GroupScoring = { scorer: GroupScorer; subjectPhotos: readonly Uint8Array[]; prompt: string } | { unranked: string };

/** Scores a drawn group and orders it best first; without a scorer, the drawing order with the reason. */
export async function rankCandidates(images: readonly GeneratedImage[], scoring: GroupScoring): Promise<CandidateGroup> {
  const drawn = images.map((image, i) => ({ ...image, drawn: i }));
  if ('unranked' in scoring) return { candidates: drawn, ranked: false, scorer: null, reason: scoring.unranked, scoringMs: 0 };
  const started = performance.now();
  const scores: GroupScores = await scoring.scorer.score({ candidates: images.map((i) => i.data), subjectPhotos: scoring.subjectPhotos, prompt: scoring.prompt });
  const candidates = scores.order.map((i, r) => ({ ...drawn[i], rank: r + 1, scores: scores.candidates[i] }));
  return { candidates, ranked: true, scorer: scoring.scorer.name, photoAlignment: scores.photoAlignment, scoringMs: performance.now() - started };
}
