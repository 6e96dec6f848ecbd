import type { ProgressHooks } from '../decoding/progress.ts';
import type { Generation } from '../pipeline/personalizer.ts';
import type { JobRecord } from '../store/index.ts';

/** What running a stored job gives: its record, its images, its stage-1 text. */
export interface JobOutcome {
  job: JobRecord;
  /** For a group of candidates: only the best one (all of them are in `group`). */
  generation: Generation;
  /** A job with `candidates`: the whole group, best first when ranked (also kept in stores.candidates). */
  group?: OutcomeGroup;
  /** Stage-1 text ('' for plain text-to-image) and whether it came from the cache. */
  grounding: { text: string; cached: boolean; ms: number };
  totalMs: number;
}

/** What a front end shows of a group: a drawn CandidateGroup, or one read back from stores.candidates. */
export interface OutcomeGroup {
  scorer: string | null;
  scoringMs: number;
  /** Best first when ranked. */
  candidates: readonly { drawn: number; seed: number; imageTokens: readonly number[]; scores?: { fidelity: number; alignment: number } }[];
}

/** What a runner tells the one following a job (cancelling goes through its JobHandle). */
export interface RunHooks extends Pick<ProgressHooks, 'onStep'> {
  onStart?: () => void;
}
