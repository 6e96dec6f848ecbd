import type { CandidateScore, GroupScores } from '../scoring/ranking.ts';
import type { GroupScorer } from '../scoring/group-scorer.ts';
import type { GeneratedImage, Generation } from './personalizer.ts';

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

/** How a drawn group scored where it was drawn: its scores and the time they took, or why it was not scored (one line). */
export type DrawnGroupScores = { scores: GroupScores; ms: number } | { failed: string };

/** A group drawn and scored by the same engine call (see ImageEngine.generateScored). */
export interface ScoredGeneration extends Generation {
  scoring: DrawnGroupScores;
}

export type GroupScoring = { scorer: GroupScorer; subjectPhotos: readonly Uint8Array[]; prompt: string } | { unranked: string };

/** Scores a drawn group and orders it best first; without a scorer, the drawing order with the reason. */
export async function rankCandidates(images: readonly GeneratedImage[], scoring: GroupScoring): Promise<CandidateGroup> {
  if ('unranked' in scoring) return unrankedGroup(images, scoring.unranked);
  const started = performance.now();
  const scores: GroupScores = await scoring.scorer.score({ candidates: images.map((i) => i.data), subjectPhotos: scoring.subjectPhotos, prompt: scoring.prompt });
  return rankedGroup(images, scores, scoring.scorer.name, performance.now() - started);
}

/** A drawn group ordered best first by scores already made (by `scorer`, in `scoringMs`). */
export function rankedGroup(images: readonly GeneratedImage[], scores: GroupScores, scorer: string, scoringMs: number): CandidateGroup {
  const candidates = scores.order.map((i, r) => ({ ...images[i], drawn: i, rank: r + 1, scores: scores.candidates[i] }));
  return { candidates, ranked: true, scorer, photoAlignment: scores.photoAlignment, scoringMs };
}

/** A drawn group in drawing order, with why it is not ranked. */
export function unrankedGroup(images: readonly GeneratedImage[], reason: string): CandidateGroup {
  return { candidates: images.map((image, drawn) => ({ ...image, drawn })), ranked: false, scorer: null, reason, scoringMs: 0 };
}
