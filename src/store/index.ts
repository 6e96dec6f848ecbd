import { GroundingCache, type GroundingCacheOptions } from './grounding-cache.ts';
import { CandidateStore } from './candidate-store.ts';
import { FeedbackStore } from './feedback-store.ts';
import { JobStore } from './job-store.ts';
import { openStore, type OpenStoreOptions, type Store } from './open-store.ts';
import { PhotoStore } from './photo-store.ts';
import { SubjectStore } from './subject-store.ts';
import { ThreadLinks } from './thread-links.ts';

export { openStore, NAMESPACES, STORE_SCHEMA_VERSION, SQLITE_FILE, type Namespace, type OpenStoreOptions, type Store } from './open-store.ts';
export {
  PhotoStore,
  normalizePhoto,
  photoHash,
  DEFAULT_SWEEP_GRACE_MS,
  PHOTO_MAX_SIDE,
  type NormalizedPhoto,
  type PhotoRecord,
  type PhotoRef,
  type SweepOptions,
} from './photo-store.ts';
export { SubjectStore } from './subject-store.ts';
export { DEFAULT_MAX_SUBJECTS_PER_USER, SUBJECT_MAX_PHOTOS, type SubjectPhotoBytes, type SaveSubjectInput, type Subject } from './subject.ts';
export { cleanContext, cleanName, SUBJECT_CONTEXT_MAX_CHARS, SUBJECT_NAME_MAX_CHARS } from './subject-names.ts';
export { MAX_SUGGESTIONS, type Suggestion } from './subject-suggestions.ts';
export { GroundingCache, type CachedGrounding, type GroundingKey } from './grounding-cache.ts';
export { JobStore, DEFAULT_JOB_RETENTION_MS } from './job-store.ts';
export { FINISHED_STATUSES, type JobOptions, type JobPatch, type JobRecord, type JobStatus, type NewJob } from './job-record.ts';
export type { KeptResult } from './kept-result.ts';
export { newId, isValidId } from './ids.ts';
export { CandidateStore, type CandidateGroupRecord, type StoredCandidate } from './candidate-store.ts';
export { FeedbackStore, type FeedbackRow, type FeedbackChange } from './feedback-store.ts';
export { ThreadLinks, type ThreadLink } from './thread-links.ts';
export { IdLists } from './id-lists.ts';

export interface StoresOptions extends OpenStoreOptions {
  maxSubjectsPerUser?: number;
  jobRetentionMs?: number;
  grounding?: GroundingCacheOptions;
  /** Run maintenance() on a timer (unref'd) every this many ms; default off. Daily is plenty. */
  maintenanceIntervalMs?: number;
  now?: () => number;
}

export interface ForgetUserResult {
  subjects: number;
  jobs: number;
  groundings: number;
  /** Photos deleted because no one else's subject or job used them. */
  photos: number;
}

export interface MaintenanceResult {
  jobsDeleted: number;
  /** Links of the bot's threads whose job record is gone. */
  threadLinksDeleted: number;
  groundingsDeleted: number;
  photosDeleted: number;
  refsDropped: number;
}

/** Everything the bot, the CLI and tests need, built on one Store. */
export interface Stores {
  readonly store: Store;
  readonly photos: PhotoStore;
  readonly subjects: SubjectStore;
  readonly groundings: GroundingCache;
  readonly jobs: JobStore;
  /** Candidate groups kept with their jobs (images for the swap, tokens and scores for export). */
  readonly candidates: CandidateStore;
  /** Users' signals on candidates (picks, reactions, regenerations, refinements). */
  readonly feedback: FeedbackStore;
  /** The threads the bot made for results, linked to their job and owner (replies in them refine). */
  readonly threads: ThreadLinks;
  /**
   * Deletes every subject, job record, thread link and cached grounding of a user, and each of their photos
   * that no other user's subject or job also uses ("forget me" / data deletion requests).
   */
  forgetUser(userId: string): Promise<ForgetUserResult>;
  /** Expired job records (and the links of their threads) and groundings, then orphaned photos. Run at startup and daily. */
  maintenance(): Promise<MaintenanceResult>;
  close(): Promise<void>;
}

export async function openStores(options: StoresOptions): Promise<Stores> {
  return createStores(await openStore(options), options);
}

export function createStores(store: Store, options: Omit<StoresOptions, keyof OpenStoreOptions> & Pick<OpenStoreOptions, 'onError'> = {}): Stores {
  const now = options.now;
  const photos = new PhotoStore(store, { now });
  const groundings = new GroundingCache(store, { now, ...options.grounding });
  const feedback = new FeedbackStore(store, now);
  const candidates = new CandidateStore(store);
  const jobs = new JobStore(store, photos, { now, retentionMs: options.jobRetentionMs, onRemove: async (record) => void (await feedback.deleteForJob(record.id)) });
  const threads = new ThreadLinks(store, (jobId) => jobs.exists(jobId));
  const subjects = new SubjectStore(store, photos, { now, maxPerUser: options.maxSubjectsPerUser, groundings, jobs });

  const isLive = async (ref: string): Promise<boolean> =>
    (await subjects.isLiveRef(ref)) ?? (await jobs.isLiveRef(ref)) ?? true; // unknown kinds are kept

  const maintenance = async (): Promise<MaintenanceResult> => {
    const jobsDeleted = await jobs.cleanup();
    const threadLinksDeleted = await threads.cleanup(async (jobId) => (await jobs.get(jobId)) !== undefined);
    const groundingsDeleted = await groundings.cleanup();
    const { photosDeleted, refsDropped } = await photos.sweep(isLive);
    return { jobsDeleted, threadLinksDeleted, groundingsDeleted, photosDeleted, refsDropped };
  };

  let timer: NodeJS.Timeout | undefined;
  if (options.maintenanceIntervalMs && options.maintenanceIntervalMs > 0) {
    let running = false;
    timer = setInterval(() => {
      if (running || store.closed) return;
      running = true;
      maintenance()
        .catch((error) => options.onError?.(error))
        .finally(() => (running = false));
    }, options.maintenanceIntervalMs);
    timer.unref();
  }

  return {
    store,
    photos,
    subjects,
    groundings,
    jobs,
    candidates,
    feedback,
    threads,
    forgetUser: async (userId) => {
      const s = await subjects.forgetUser(userId);
      const j = await jobs.deleteForUser(userId);
      // A thread link names the user too, also where the job has already expired. After the records:
      // a link written meanwhile is deleted here, and one written later is refused (its job is gone).
      await threads.forgetUser(userId);
      const g = await groundings.deleteForUser(userId);
      await store.ns('consents').delete(userId); // consent-store.ts: one record per user id
      await feedback.deleteForUser(userId);
      // Last: no copy of what was deleted may stay in the files (the SQLite WAL).
      await store.purge();
      return { subjects: s.subjects, jobs: j.jobs, groundings: s.groundings + g, photos: s.photos + j.photos };
    },
    maintenance,
    close: async () => {
      clearInterval(timer);
      await store.close();
    },
  };
}
