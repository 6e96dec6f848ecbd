import { InputError } from '../errors.ts';
import { admitJob, type AdmittedJob } from '../jobs/admission/admit.ts';
import { GenerateOptionsSchema, MAX_COUNT, parseOrThrow } from '../request-options.ts';
import { newId, type JobRecord } from '../store/index.ts';
import type { AttachmentRef } from './attachment-downloader.ts';
import { recordFollowUpSignal } from './feedback-signals.ts';
import { storeJobPhotos } from './photo-intake.ts';
import { assertFollowUpAllowed } from './server-rules.ts';
import type { BotDeps } from './bot-deps.ts';

export interface FollowUp {
  /** Regenerate and Variations draw a new seed. */
  newSeed?: boolean;
  count?: number;
  /** Set here, not by callers: a reroll or refinement of a group draws a group again. */
  candidates?: number;
  /** Refinement: new text replaces the prompt; new photos join the subject. */
  prompt?: string;
  photos?: AttachmentRef[];
}

/** A new job made from an earlier one (reroll, variations, refinement), owned by the same user, with the ticket it was admitted under. */
export async function followUpJob(deps: BotDeps, parent: JobRecord, change: FollowUp): Promise<AdmittedJob> {
  // Refinement text (the Refine modal, a reply in the thread): the same rules as /personalize, before anything is queued.
  deps.textRules.check({ prompt: change.prompt });
  const { countMax, candidatesMax, jobsPerUser } = await assertFollowUpAllowed(deps, parent, change);
  // Variations ask for 4, a reroll draws as many as its parent: never more than the server allows now.
  const candidates = change.count === undefined && parent.candidates ? Math.min(parent.candidates, candidatesMax) : undefined;
  change = { ...change, count: Math.min(change.count ?? parent.options.count ?? 1, countMax), candidates: candidates && candidates > 1 ? candidates : undefined };
  if (change.prompt?.trim()) parseOrThrow(GenerateOptionsSchema, { prompt: change.prompt });
  if (parent.deletedAt !== undefined) throw new InputError('job_deleted', 'That image was deleted; start again with /personalize.');
  // The place and images are taken before the slow part (photos); the place becomes the job when the caller runs it.
  const id = newId();
  const request = { userId: parent.ownerId, guildId: parent.guildId, images: followUpImages(parent, change), jobsPerUser };
  return admitJob(deps, id, request, async () => {
    const job = await makeFollowUp(deps, parent, change, id);
    await recordFollowUpSignal(deps, parent, change.prompt?.trim() || change.photos?.length ? 'refined' : 'regenerated');
    return job;
  });
}

/** Images the follow-up will draw: what it asks for, else as many as its parent (each candidate of a group counts). */
export function followUpImages(parent: JobRecord, change: FollowUp): number {
  return change.candidates ?? (change.count ? Math.min(MAX_COUNT, change.count) : (parent.candidates ?? parent.options.count ?? 1));
}

async function makeFollowUp(deps: BotDeps, parent: JobRecord, change: FollowUp, id: string): Promise<JobRecord> {
  const { stores, config } = deps;
  const existing = parent.photoHashes ?? [];
  const subjectPhotos = parent.subjectId ? (await stores.subjects.get(parent.ownerId, parent.guildId, parent.subjectId).catch(() => null))?.photoHashes.length ?? 0 : 0;
  const incoming = change.photos ?? [];
  if (subjectPhotos + existing.length + incoming.length > config.maxSubjectPhotos) {
    throw new InputError('too_many', `That would make ${subjectPhotos + existing.length + incoming.length} photos; at most ${config.maxSubjectPhotos} can be used.`);
  }
  const added = await storeJobPhotos(deps, id, incoming);
  const photoHashes = [...new Set([...existing, ...added])];
  try {
    return await stores.jobs.create({
      id,
      ownerId: parent.ownerId,
      guildId: parent.guildId,
      channelId: parent.threadId ?? parent.channelId,
      threadId: parent.threadId,
      prompt: change.prompt?.trim() || parent.prompt,
      seed: change.newSeed ? Math.floor(Math.random() * 2 ** 31) : parent.seed,
      options: { ...parent.options, ...(change.count ? { count: Math.min(MAX_COUNT, change.count) } : {}) },
      candidates: change.candidates,
      subjectId: parent.subjectId,
      photoHashes: photoHashes.length ? photoHashes : undefined,
      name: parent.name,
      context: parent.context,
      parentId: parent.id,
      uploadLimit: parent.uploadLimit,
    });
  } catch (err) {
    await stores.photos.release(added, `job:${id}`).catch(() => {});
    throw err;
  }
}
