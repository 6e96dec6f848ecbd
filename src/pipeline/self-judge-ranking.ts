import { orderByRank, rankScore, type GroupScores, type RankOptions } from '../scoring/ranking.ts';
import type { GroupScorer } from '../scoring/group-scorer.ts';
import type { SelfJudgement } from './self-judge.ts';

/**
 * The ranking rule of ranking.ts on self-judge scores (P(yes) in [0, 1]): alignment must be at
 * least 0.5 (the model answers yes more than no) and beat the best subject photo's own answer by
 * 0.01, so a copy of a photo (which gets that photo's answer) never passes. The self-judge asks
 * about all photos at once and has no per-photo similarity, so the near-duplicate test is off
 * here; the gain test is the copy guard.
 */
export const SELF_RANK_OPTIONS: Required<RankOptions> = { minAlignment: 0.5, minGain: 0.01, copySimilarity: Infinity };

export function rankSelfJudgement(j: SelfJudgement, options: RankOptions = SELF_RANK_OPTIONS): GroupScores {
  const photoAlignment = Math.max(...j.photoAlignment);
  const candidates = j.fidelity.map((fidelity, i) => {
    const s = { fidelity, maxPhotoSimilarity: fidelity, alignment: j.alignment[i] };
    return { ...s, ...rankScore(s, photoAlignment, { ...SELF_RANK_OPTIONS, ...options }) };
  });
  return { candidates, photoAlignment, order: orderByRank(candidates) };
}

/** A GroupScorer over a judge bound to one prepared subject (its photos are already in the engine). */
export function selfJudgeScorer(judge: (candidates: Uint8Array[], prompt: string) => Promise<SelfJudgement>): GroupScorer {
  return {
    name: 'self',
    score: async ({ candidates, prompt }) => {
      if (!candidates.every((c) => c instanceof Uint8Array)) throw new TypeError('the self-judge scores encoded images');
      return rankSelfJudgement(await judge(candidates as Uint8Array[], prompt));
    },
  };
}
