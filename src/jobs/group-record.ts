import type { CandidateGroup } from '../pipeline/candidate-group.ts';
import type { JobRecord, Stores } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';

/**
 * Stores a job's candidate group with its images in stores.candidates, for the swap after a restart and for the
 * feedback export (marked with whether the job's server collects feedback). Best effort: an image is
 * never lost for this, so a failed write is ignored.
 */
export async function storeCandidateGroup(
  stores: Stores,
  modelId: string,
  job: JobRecord,
  group: CandidateGroup,
  photoHashes: string[],
  grounding: string,
): Promise<void> {
  const settings = await getServerSettings(stores, job.guildId).catch(() => undefined);
  await stores.candidates
    .put({
      version: 1,
      jobId: job.id,
      modelId,
      grounding,
      subjectPhotoHashes: photoHashes,
      scorer: group.scorer,
      ...(group.reason ? { reason: group.reason } : {}),
      ...(group.photoAlignment !== undefined ? { photoAlignment: group.photoAlignment } : {}),
      scoringMs: group.scoringMs,
      feedback: settings?.feedback ?? false,
      shown: group.candidates[0].drawn,
      candidates: group.candidates.map((c) => ({
        drawn: c.drawn,
        ...(c.rank !== undefined ? { rank: c.rank } : {}),
        seed: c.seed,
        imageTokens: c.imageTokens,
        ...(c.scores ? { scores: { fidelity: c.scores.fidelity, alignment: c.scores.alignment, passes: c.scores.passes } } : {}),
        data: Buffer.from(c.data).toString('base64'),
        format: c.format,
      })),
    })
    .catch(() => {});
}
