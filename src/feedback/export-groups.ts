import { GenerateOptionsSchema } from '../request-options.ts';
import type { CandidateGroupRecord, FeedbackRow, JobRecord, Stores } from '../store/index.ts';
import { getServerSettings } from '../store/server-settings.ts';
import { FEEDBACK_EXPORT_VERSION, type FeedbackGroup } from './export-schema.ts';

/**
 * Every stored group of candidates from a server that collects feedback (then and now), oldest
 * first, as GRPO-ready lines: no user or server ids, only the prompt, grounding, photo hashes,
 * sampling, each candidate's tokens and scores and the users' signals summed per candidate.
 */
export async function* exportFeedbackGroups(stores: Stores, options: { since?: number } = {}): AsyncGenerator<FeedbackGroup> {
  const found: { job: JobRecord; group: CandidateGroupRecord }[] = [];
  for (const jobId of await stores.candidates.jobIds()) {
    const [job, group] = await Promise.all([stores.jobs.get(jobId), stores.candidates.get(jobId)]);
    if (!job || !group || job.deletedAt !== undefined || !group.feedback) continue;
    if (options.since !== undefined && job.createdAt < options.since) continue;
    if (!(await getServerSettings(stores, job.guildId)).feedback) continue;
    found.push({ job, group });
  }
  found.sort((a, b) => a.job.createdAt - b.job.createdAt);
  for (const { job, group } of found) yield exportGroup(job, group, await stores.feedback.rows(job.id));
}

export function exportGroup(job: JobRecord, group: CandidateGroupRecord, rows: readonly FeedbackRow[]): FeedbackGroup {
  const o = GenerateOptionsSchema.parse({ ...job.options, prompt: job.prompt });
  return {
    schema: 'xcot-feedback',
    version: FEEDBACK_EXPORT_VERSION,
    groupId: job.id,
    createdAt: new Date(job.createdAt).toISOString(),
    modelId: group.modelId,
    prompt: job.prompt,
    grounding: group.grounding,
    subjectPhotoHashes: [...group.subjectPhotoHashes],
    sampling: { seed: job.seed, cfgWeight: o.cfgWeight, temperature: o.temperature, topK: o.topK ?? null, greedy: o.greedy, uncond: o.uncond },
    scorer: group.scorer,
    photoAlignment: group.photoAlignment ?? null,
    candidates: group.candidates.map((c) => {
      const key = String(c.drawn);
      return {
        drawn: c.drawn,
        rank: c.rank ?? null,
        seed: c.seed,
        imageTokenCount: c.imageTokens.length,
        imageTokens: c.imageTokens,
        scores: c.scores ? { fidelity: c.scores.fidelity, alignment: c.scores.alignment, passes: c.scores.passes } : null,
        signals: {
          picked: rows.some((r) => r.userId === job.ownerId && r.picked === c.drawn),
          thumbsUp: rows.filter((r) => r.thumbs[key] === 'up').length,
          thumbsDown: rows.filter((r) => r.thumbs[key] === 'down').length,
          regenerated: rows.some((r) => r.regenerated.includes(c.drawn)),
          refined: rows.some((r) => r.refined.includes(c.drawn)),
        },
      };
    }),
  };
}
