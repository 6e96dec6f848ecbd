import type { ImageEngine } from './image-engine.ts';
import type { GroupScoring } from '../pipeline/candidate-group.ts';
import { selfJudgeScorer } from '../pipeline/self-judge-ranking.ts';
import type { ScorerKind } from '../scoring/group-scorer.ts';
import type { ScorerImage } from '../scoring/types.ts';

/** How the service ranks one job's group with the engine's scorers, or why it cannot. */
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
  if (!engine.scoreGroup) return { unranked: 'this engine cannot run the embedding scorers' };
  const scoreGroup = engine.scoreGroup.bind(engine);
  return {
    scorer: {
      name: kind,
      score: ({ candidates, subjectPhotos, prompt }) => scoreGroup(kind, { candidates: encoded(candidates), subjectPhotos: encoded(subjectPhotos), prompt, signal }),
    },
    subjectPhotos: job.photos,
    prompt: job.prompt,
  };
}

function encoded(images: readonly ScorerImage[]): Uint8Array[] {
  if (!images.every((i) => i instanceof Uint8Array)) throw new TypeError('the engine scores encoded images');
  return images as Uint8Array[];
}
