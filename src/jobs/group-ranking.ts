import type { ImageEngine } from './image-engine.ts';
import type { EngineGenerateRequest } from '../pipeline/personalizer.ts';
import { rankCandidates, rankedGroup, unrankedGroup, type CandidateGroup } from '../pipeline/candidate-group.ts';
import type { Generation } from '../pipeline/personalizer.ts';
import { isEmbeddingScorer, type ScorerKind } from '../model-kinds.ts';
import { groupScoring } from './group-scoring.ts';
import { firstLine } from '../util/first-line.ts';

/**
 * One job's group, drawn and ranked best first by the configured scorer. An embedding scorer runs
 * where the group is drawn (the engine's generateScored), so the images cross to this thread once;
 * the self-judge ranks after drawing. A scorer that fails leaves the group unranked (in drawing
 * order, with the reason) rather than costing the drawn images; a job cancelled meanwhile throws
 * its abort instead.
 */
export async function drawJobGroup<S>(
  engine: ImageEngine<S>,
  kind: ScorerKind,
  request: EngineGenerateRequest<S>,
  job: { subject: S | null; photos: readonly Uint8Array[]; prompt: string; signal: AbortSignal },
): Promise<{ generation: Generation; group: CandidateGroup }> {
  const { subject } = job;
  if (isEmbeddingScorer(kind) && subject && job.photos.length > 0 && engine.generateScored) {
    const { scoring, ...generation } = await engine.generateScored({ ...request, subject }, kind);
    const group = 'failed' in scoring
      ? unrankedGroup(generation.images, `scoring failed: ${scoring.failed}`)
      : rankedGroup(generation.images, scoring.scores, kind, scoring.ms);
    return { generation, group };
  }
  const generation = await engine.generate(request);
  return { generation, group: await rankJobGroup(engine, kind, generation, job) };
}

/** A group already drawn, ranked by the self-judge (or left unranked with why). */
async function rankJobGroup<S>(
  engine: ImageEngine<S>,
  kind: ScorerKind,
  generation: Generation,
  job: { subject: S | null; photos: readonly Uint8Array[]; prompt: string; signal: AbortSignal },
): Promise<CandidateGroup> {
  const scoring = groupScoring(engine, kind, job);
  return rankCandidates(generation.images, scoring).catch((err: unknown) => {
    job.signal.throwIfAborted();
    return unrankedGroup(generation.images, `scoring failed: ${firstLine(err)}`);
  });
}
