import type { ImageEngine } from './image-engine.ts';
import { rankCandidates, type CandidateGroup } from '../pipeline/candidate-group.ts';
import type { Generation } from '../pipeline/personalizer.ts';
import type { ScorerKind } from '../scoring/group-scorer.ts';
import { groupScoring } from './group-scoring.ts';

/**
 * One job's drawn group, ranked best first by the configured scorer. A scorer that fails leaves the
 * group unranked (in drawing order, with the reason) rather than costing the drawn images; a job
 * cancelled meanwhile throws its abort instead.
 */
export async function rankJobGroup<S>(
  engine: ImageEngine<S>,
  kind: ScorerKind,
  generation: Generation,
  job: { subject: S | null; photos: readonly Uint8Array[]; prompt: string; signal: AbortSignal },
): Promise<CandidateGroup> {
  const scoring = groupScoring(engine, kind, job);
  return rankCandidates(generation.images, scoring).catch((err: unknown) => {
    job.signal.throwIfAborted();
    return { ...unranked(generation), reason: `scoring failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  });
}

function unranked(generation: Generation): CandidateGroup {
  return { candidates: generation.images.map((image, drawn) => ({ ...image, drawn })), ranked: false, scorer: null, scoringMs: 0 };
}
