import { assertId, DAY_MS, isPhotoHash, isValidId, newId } from './ids.ts';
import type { PhotoRef, PhotoStore } from './photo-store.ts';
import type { Store } from './open-store.ts';
import { candidatesKey } from './candidate-store.ts';
import { IdLists } from './id-lists.ts';
import { FINISHED_STATUSES, type JobPatch, type JobRecord, type NewJob } from './job-record.ts';
import type { KeptResult } from './kept-result.ts';

/**
 * Persistent job / result records, so that the buttons under a result (Regenerate, Variations, Show
 * reasoning, Save subject, Refine, Delete, Cancel) still work hours later and after a restart: a button's
 * custom_id carries only `xcot:<action>:<job id>` (src/bot/custom-ids.ts), and the handler loads
 * everything else from here.
 *
 * Ids are 12 characters of [A-Za-z0-9_-] (see ids.ts): `xcot:regen:Ab3_x9-QzT0k` is far below the 100
 * characters of a custom_id.
 *
 * Photos: `photoHashes` (photos uploaded for this one job, not a saved subject) are referenced by the job
 * (`job:<id>` in PhotoStore) so they outlive the upload and a reroll can use them; they are released when
 * the record is deleted. For a job on a saved subject set `subjectId` and leave photoHashes out: the job
 * then does not keep the subject's photos alive, and deleting the subject really deletes them (a later
 * reroll tells the user the subject is gone).
 *
 * Retention (TTL): records are deleted by cleanup() once finished (or created, if never finished) more than
 * `retentionMs` ago, 30 days by default. SQLite has no expiry of its own, so the bot must call cleanup()
 * (or Stores.maintenance()) at startup and then periodically, e.g. daily; Stores can run it on a timer.
 * Records are not given a backend TTL, so the per-user index and the photo references stay consistent.
 *
 * Layout (namespace `jobs`):
 *   j:<id>      -> JobRecord                (the commit point)
 *   u:<userId>  -> string[] job ids         (oldest first; covers every record of the user)
 *   r:<id>      -> KeptResult               (images drawn, not yet posted; deleted with the record)
 */

export interface JobStoreOptions {
  retentionMs?: number;
  now?: () => number;
  /** Told after a record is removed (retention, forget-me), for data kept about it elsewhere (feedback). */
  onRemove?: (record: JobRecord) => Promise<void>;
}

export const DEFAULT_JOB_RETENTION_MS = 30 * DAY_MS;
const SCAN_BATCH = 200;

export class JobStore {
  readonly #store: Store;
  readonly #photos: PhotoStore;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #onRemove?: (record: JobRecord) => Promise<void>;
  /** `u:<userId>`: each user's job ids. */
  readonly #index: IdLists;

  constructor(store: Store, photos: PhotoStore, options: JobStoreOptions = {}) {
    this.#store = store;
    this.#index = new IdLists(store, 'jobs');
    this.#photos = photos;
    this.#retentionMs = options.retentionMs ?? DEFAULT_JOB_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    this.#onRemove = options.onRemove;
  }

  get retentionMs(): number {
    return this.#retentionMs;
  }

  /**
   * Creates a record. `photoHashes` must already be stored (PhotoStore.putPhoto); the job adds itself as
   * their referrer before the record is written, and takes it back if the write fails.
   */
  async create(input: NewJob): Promise<JobRecord> {
    const id = input.id ?? newId();
    assertId(id, 'job id');
    assertId(input.ownerId, 'ownerId');
    if (input.guildId !== null) assertId(input.guildId, 'guildId');
    assertId(input.channelId, 'channelId');
    if (input.subjectId !== undefined) assertId(input.subjectId, 'subjectId');
    if (!Number.isInteger(input.seed) || input.seed < 0) throw new TypeError(`seed must be a non-negative integer, got ${input.seed}`);
    const photoHashes = input.photoHashes ? [...new Set(input.photoHashes)] : undefined;
    if (photoHashes?.some((h) => !isPhotoHash(h))) throw new TypeError('photoHashes must be sha256 hex digests');

    const record: JobRecord = stripUndefined({
      ...input,
      id,
      photoHashes,
      options: { ...input.options },
      status: input.status ?? 'queued',
      createdAt: this.#now(),
    });
    return this.#lockUser(record.ownerId, async () => {
      if (await this.#store.jobs.has(recordKey(id))) throw new Error(`job ${id} already exists`);
      const ref = jobRef(id);
      const referenced: string[] = [];
      let indexed = false;
      try {
        for (const hash of photoHashes ?? []) {
          await this.#photos.addRef(hash, ref);
          referenced.push(hash);
        }
        await this.#index.add(indexKey(record.ownerId), id);
        indexed = true;
        await this.#store.jobs.set(recordKey(id), record);
      } catch (error) {
        await this.#store.jobs.delete(recordKey(id)).catch(() => {});
        if (indexed) await this.#index.remove(indexKey(record.ownerId), [id]).catch(() => {});
        await this.#photos.release(referenced, ref).catch(() => {});
        throw error;
      }
      return record;
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!isValidId(id)) return undefined;
    return this.#store.jobs.get(recordKey(id));
  }

  /**
   * Updates status and message fields. Moving to a finished status stamps finishedAt (and 'running'
   * stamps startedAt) unless given. Throws if the record does not exist.
   */
  async update(id: string, patch: JobPatch): Promise<JobRecord> {
    assertId(id, 'job id');
    const found: JobRecord | undefined = await this.#store.jobs.get(recordKey(id));
    if (!found) throw new Error(`job ${id} does not exist`);
    // Under the owner's lock, like create/delete/cleanup, so an update cannot resurrect a deleted record.
    return this.#lockUser(found.ownerId, async () => {
      const current: JobRecord | undefined = await this.#store.jobs.get(recordKey(id));
      if (!current) throw new Error(`job ${id} does not exist`);
      const next: JobRecord = stripUndefined({ ...current, ...patch });
      const now = this.#now();
      if (patch.status === 'running' && next.startedAt === undefined) next.startedAt = now;
      if (patch.status && FINISHED_STATUSES.includes(patch.status) && next.finishedAt === undefined) next.finishedAt = now;
      await this.#store.jobs.set(recordKey(id), next);
      return next;
    });
  }

  /**
   * Notes that the job's result was deleted, and releases the photos uploaded for it once it has
   * finished (other jobs and subjects using them hold references of their own). Returns the record,
   * undefined when there is none; a second call keeps the first note.
   */
  async markDeleted(id: string, by: 'owner' | 'moderator'): Promise<JobRecord | undefined> {
    if (!isValidId(id)) return undefined;
    const found: JobRecord | undefined = await this.#store.jobs.get(recordKey(id));
    if (!found) return undefined;
    return this.#lockUser(found.ownerId, async () => {
      const current: JobRecord | undefined = await this.#store.jobs.get(recordKey(id));
      if (!current || current.deletedAt !== undefined) return current;
      const finished = FINISHED_STATUSES.includes(current.status);
      // Released before the record drops them: a crash in between leaves a record whose reroll says the
      // photos are gone, never photos that nothing would release.
      if (finished && current.photoHashes?.length) await this.#photos.release(current.photoHashes, jobRef(id));
      const { photoHashes, ...rest } = current;
      const next: JobRecord = { ...(finished ? rest : current), deletedAt: this.#now(), deletedBy: by };
      await this.#store.jobs.set(recordKey(id), next);
      if (finished) await this.#store.jobs.delete(candidatesKey(id));
      return next;
    });
  }

  /**
   * Keeps a job's drawn images until they are posted (dropKeptResult); deleted with the record. Throws
   * when the record is gone (deleted or forgotten), so nothing of a forgotten job is written back.
   */
  async keepResult(id: string, result: KeptResult): Promise<void> {
    assertId(id, 'job id');
    const found: JobRecord | undefined = await this.#store.jobs.get(recordKey(id));
    if (!found) throw new Error(`job ${id} does not exist`);
    await this.#lockUser(found.ownerId, async () => {
      if (!(await this.#store.jobs.has(recordKey(id)))) throw new Error(`job ${id} does not exist`);
      await this.#store.jobs.set(keptKey(id), result);
    });
  }

  async exists(id: string): Promise<boolean> {
    return isValidId(id) && this.#store.jobs.has(recordKey(id));
  }

  async keptResult(id: string): Promise<KeptResult | undefined> {
    if (!isValidId(id)) return undefined;
    return this.#store.jobs.get(keptKey(id));
  }

  async dropKeptResult(id: string): Promise<void> {
    assertId(id, 'job id');
    await this.#store.jobs.delete(keptKey(id));
  }

  /** Ids of the jobs whose image is kept, not yet posted. */
  async keptResultIds(): Promise<string[]> {
    return (await this.#store.keys('jobs')).filter((k) => k.startsWith('r:')).map((k) => k.slice(2));
  }

  /** Jobs still 'queued', 'running' or 'drawn' (at startup: left by a process that is gone). */
  async unfinished(): Promise<JobRecord[]> {
    const keys = (await this.#store.keys('jobs')).filter((k) => k.startsWith('j:'));
    const out: JobRecord[] = [];
    for (const key of keys) {
      const record: JobRecord | undefined = await this.#store.jobs.get(key);
      if (record && !FINISHED_STATUSES.includes(record.status)) out.push(record);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** A user's records, newest first (at most `limit`). */
  async listByUser(userId: string, { limit = 50 }: { limit?: number } = {}): Promise<JobRecord[]> {
    assertId(userId, 'userId');
    const ids = (await this.#ids(userId)).slice(-limit).reverse();
    if (ids.length === 0) return [];
    const records: (JobRecord | undefined)[] = await this.#store.jobs.get(ids.map(recordKey));
    return records.filter((r): r is JobRecord => !!r && r.ownerId === userId);
  }

  /**
   * Deletes every record of a user and releases their photos; returns how many records there were. Looks
   * past the index too (every record is read), so nothing a crash left unindexed survives.
   */
  async deleteForUser(userId: string): Promise<{ jobs: number; photos: number }> {
    assertId(userId, 'userId');
    return this.#lockUser(userId, async () => {
      const ids = new Set(await this.#ids(userId));
      for await (const record of this.#all()) if (record.ownerId === userId) ids.add(record.id);
      const records: (JobRecord | undefined)[] = ids.size ? await this.#store.jobs.get([...ids].map(recordKey)) : [];
      let jobs = 0;
      let photos = 0;
      for (const record of records) {
        if (!record || record.ownerId !== userId) continue;
        photos += await this.#remove(record);
        jobs++;
      }
      await this.#index.drop(indexKey(userId));
      return { jobs, photos };
    });
  }

  /**
   * Other users' records made with subjects that were just deleted: the name and context they copied and
   * the grounding (the model's description of the subject's photos) are removed, the rest is kept, and
   * `subjectId` still makes a reroll answer that the subject is gone. The owner's own records are left as
   * they are (forgetting the owner deletes those). Returns how many records were changed.
   */
  async forgetSubjects(ownerId: string, subjectIds: readonly string[]): Promise<number> {
    const gone = new Set(subjectIds);
    if (gone.size === 0) return 0;
    const copies = (r: JobRecord): boolean =>
      r.ownerId !== ownerId && r.subjectId !== undefined && gone.has(r.subjectId) && (r.name ?? r.context ?? r.grounding) !== undefined;
    let changed = 0;
    for await (const found of this.#all()) {
      if (!copies(found)) continue;
      await this.#lockUser(found.ownerId, async () => {
        const current: JobRecord | undefined = await this.#store.jobs.get(recordKey(found.id));
        if (!current || !copies(current)) return;
        const { name: _name, context: _context, grounding: _grounding, ...rest } = current;
        await this.#store.jobs.set(recordKey(current.id), rest);
        changed++;
      });
    }
    return changed;
  }

  /**
   * Deletes records finished (or, if never finished, created) more than `olderThanMs` ago (default: the
   * retention, 30 days), and prunes index entries whose record is gone. Returns how many were deleted.
   */
  async cleanup({ olderThanMs = this.#retentionMs }: { olderThanMs?: number } = {}): Promise<number> {
    const cutoff = this.#now() - olderThanMs;
    const users = (await this.#store.keys('jobs')).filter((k) => k.startsWith('u:')).map((k) => k.slice(2));
    let deleted = 0;
    for (const userId of users) {
      await this.#lockUser(userId, async () => {
        const ids = await this.#ids(userId);
        if (ids.length === 0) return;
        const records: (JobRecord | undefined)[] = await this.#store.jobs.get(ids.map(recordKey));
        const gone: string[] = [];
        for (const [i, record] of records.entries()) {
          if (!record) gone.push(ids[i]);
          else if ((record.finishedAt ?? record.createdAt) < cutoff) {
            await this.#remove(record, { keepIndex: true });
            gone.push(ids[i]);
            deleted++;
          }
        }
        if (gone.length) await this.#index.remove(indexKey(userId), gone);
      });
    }
    return deleted;
  }

  /** For PhotoStore.sweep: is this `job:<id>` referrer still a job? Other kinds: undefined. */
  async isLiveRef(ref: string): Promise<boolean | undefined> {
    const m = /^job:(.+)$/.exec(ref);
    if (!m) return undefined;
    return this.#store.jobs.has(recordKey(m[1]));
  }

  async #remove(record: JobRecord, { keepIndex = false } = {}): Promise<number> {
    await this.#store.jobs.delete(recordKey(record.id));
    await this.#store.jobs.delete(keptKey(record.id));
    await this.#store.jobs.delete(candidatesKey(record.id));
    await this.#onRemove?.(record);
    if (!keepIndex) await this.#index.remove(indexKey(record.ownerId), [record.id]);
    return record.photoHashes?.length ? this.#photos.release(record.photoHashes, jobRef(record.id)) : 0;
  }

  /** Every record, read in batches (for the rare whole-store passes of forgetting). */
  async *#all(): AsyncGenerator<JobRecord> {
    const keys = (await this.#store.keys('jobs')).filter((k) => k.startsWith('j:'));
    for (let i = 0; i < keys.length; i += SCAN_BATCH) {
      const records: (JobRecord | undefined)[] = await this.#store.jobs.get(keys.slice(i, i + SCAN_BATCH));
      for (const record of records) if (record) yield record;
    }
  }

  #ids(userId: string): Promise<string[]> {
    return this.#index.list(indexKey(userId));
  }

  #lockUser<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.locks.run(`jobs:${userId}`, fn);
  }
}

function recordKey(id: string): string {
  return `j:${id}`;
}

function keptKey(id: string): string {
  return `r:${id}`;
}

function indexKey(userId: string): string {
  return `u:${userId}`;
}

function jobRef(id: string): PhotoRef {
  return `job:${id}`;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
