import type { ImageEngine } from './image-engine.ts';
import type { GroupScoring } from '../pipeline/candidate-group.ts';
import { selfJudgeScorer } from '../pipeline/self-judge-ranking.ts';
import type { ScorerKind } from '../scoring/group-scorer.ts';

/**
 * How the service ranks one job's group after drawing it, or why it cannot. The embedding scorers
 * score a group where it is drawn (see drawJobGroup), so here they only say why they cannot.
 */
export function groupScoring<S>(
  engine: ImageEngine<S>,
  kind: ScorerKind,
  job: { subject: S | null; photos: readonly Uint8Array[]; prompt: string; signal: AbortSignal },
): GroupScoring {
  if (kind === 'none') return { unranked: 'no scorer configured' };
  if (!job.subject || job.photos.length === 0) return { unranked: 'no subject photos to compare with' };
  const { subject, signal } = job;
  if (kind === 'self') {
    if (!engine.judge) return { unranked: 'this engine has no self-judge' };
    const judge = engine.judge.bind(engine);
    return { scorer: selfJudgeScorer((candidates, prompt) => judge(subject, candidates, prompt, { signal })), subjectPhotos: job.photos, prompt: job.prompt };
  }
  return { unranked: 'this engine cannot run the embedding scorers' };
}
