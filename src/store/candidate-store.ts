import { assertId, isValidId } from './ids.ts';
import type { Store } from './open-store.ts';

/** One candidate of a group as kept with its job: enough to show it again and to export it for training. */
export interface StoredCandidate {
  /** Its place in the drawing order (seed order), from 0. */
  drawn: number;
  /** 1 = best; absent when the group is unranked. */
  rank?: number;
  seed: number;
  imageTokens: number[];
  scores?: { fidelity: number; alignment: number; passes: boolean };
  /** The encoded image, base64. */
  data: string;
  format: string;
}

/** A job's group of candidates, best first when ranked (namespace `jobs`, key `c:<job id>`). */
export interface CandidateGroupRecord {
  version: 1;
  jobId: string;
  modelId: string;
  grounding: string;
  subjectPhotoHashes: string[];
  /** The scorer's name, or null when unranked (then `reason` says why). */
  scorer: string | null;
  reason?: string;
  photoAlignment?: number;
  scoringMs: number;
  /** Whether the job's server collected feedback when the group was drawn. */
  feedback: boolean;
  /** The candidate the result message shows now (its `drawn`). */
  shown: number;
  candidates: StoredCandidate[];
}

export function candidatesKey(jobId: string): string {
  return `c:${jobId}`;
}

/** Candidate groups live beside their job record and are deleted with it (JobStore removes this key). */
export class CandidateStore {
  constructor(private readonly store: Store) {}

  async put(record: CandidateGroupRecord): Promise<void> {
    assertId(record.jobId, 'job id');
    await this.store.jobs.set(candidatesKey(record.jobId), record);
  }

  async get(jobId: string): Promise<CandidateGroupRecord | undefined> {
    if (!isValidId(jobId)) return undefined;
    return this.store.jobs.get(candidatesKey(jobId));
  }

  async setShown(jobId: string, drawn: number): Promise<void> {
    await this.store.locks.run(`candidates:${jobId}`, async () => {
      const current = await this.get(jobId);
      if (current) await this.store.jobs.set(candidatesKey(jobId), { ...current, shown: drawn });
    });
  }

  /** Job ids that have a stored group. */
  async jobIds(): Promise<string[]> {
    return (await this.store.keys('jobs')).filter((k) => k.startsWith('c:')).map((k) => k.slice(2));
  }
}
