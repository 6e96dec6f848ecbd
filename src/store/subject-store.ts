import { InputError } from '../errors.ts';
// Names in these messages are users' text, shown in Discord: escaped so they show literally.
import { safeText } from '../util/safe-text.ts';
import { ListCache } from './subject-list-cache.ts';
import { checkNoLookalike, checkOwnNameFree, checkSharedNameFree, cleanContext, cleanName, sortByName } from './subject-names.ts';
import { rankSuggestions, type Suggestion } from './subject-suggestions.ts';
import { assertId, isValidId, newId } from './ids.ts';
import { SubjectIndex, subjectKey } from './subject-index.ts';
import { normalizePhoto, type NormalizedPhoto, type PhotoRef, type PhotoStore } from './photo-store.ts';
import type { Store } from './open-store.ts';
import { DEFAULT_MAX_SUBJECTS_PER_USER, SUBJECT_MAX_PHOTOS, type SaveSubjectInput, type Subject } from './subject.ts';
import { checkModerate, checkOwner } from './subject-access.ts';
import { findSubject } from './subject-lookup.ts';

/**
 * Saved subjects (subject.ts), kept in the store with their photos and indexes.
 *
 * Who may see and change one: subject-access.ts; what names may be: subject-names.ts.
 *
 * Layout: subject-index.ts. Save writes photos, then the owner index, then the record; delete removes the
 * record first, then the index entries, then the photo references. Whatever a crash leaves behind is unreachable (index entries
 * whose record is missing are skipped and pruned, photo referrers whose subject is missing are removed by
 * PhotoStore.sweep with isLive). A failed save rolls back what it wrote.
 *
 * All writes of one owner run under that owner's lock (see keyed-lock.ts).
 */

/** What SubjectStore needs of the grounding cache: drop an owner's cached groundings of deleted photos. */
export interface GroundingInvalidator {
  deleteForPhotos(userId: string, photoHashes: readonly string[]): Promise<number>;
  deleteForSubject(ownerId: string, photoHashes: readonly string[]): Promise<number>;
}

/** What SubjectStore needs of the job store: drop other users' copies of deleted subjects' details. */
export interface JobCopyInvalidator {
  forgetSubjects(ownerId: string, subjectIds: readonly string[]): Promise<number>;
}

export interface SubjectStoreOptions {
  maxPerUser?: number;
  now?: () => number;
  /** When given, deleting a subject also drops its owner's cached groundings that used its photos. */
  groundings?: GroundingInvalidator;
  /** When given, deleting a subject also removes its name, context and grounding from other users' jobs. */
  jobs?: JobCopyInvalidator;
  /** Lifetime of the in-memory lists behind list() and suggest() (default 5 min; writes invalidate). */
  cacheTtlMs?: number;
  /** Most users (and, separately, servers) kept in memory (default 10,000 each, least recent dropped). */
  maxCachedKeys?: number;
}

export interface ForgetSubjectsResult {
  subjects: number;
  photos: number;
  /** Cached groundings of the deleted subjects' photos (when a grounding cache is wired in). */
  groundings: number;
}

export class SubjectStore {
  readonly #store: Store;
  readonly #photos: PhotoStore;
  readonly #maxPerUser: number;
  readonly #now: () => number;
  readonly #groundings?: GroundingInvalidator;
  readonly #jobs?: JobCopyInvalidator;
  readonly #own: ListCache<Subject>;
  readonly #shared: ListCache<Subject>;
  readonly #index: SubjectIndex;

  constructor(store: Store, photos: PhotoStore, options: SubjectStoreOptions = {}) {
    this.#store = store;
    this.#index = new SubjectIndex(store);
    this.#photos = photos;
    this.#maxPerUser = options.maxPerUser ?? DEFAULT_MAX_SUBJECTS_PER_USER;
    this.#now = options.now ?? Date.now;
    this.#groundings = options.groundings;
    this.#jobs = options.jobs;
    const ttl = options.cacheTtlMs ?? 5 * 60_000;
    const max = options.maxCachedKeys ?? 10_000;
    this.#own = new ListCache(ttl, max, (userId) => this.#index.own(userId));
    this.#shared = new ListCache(ttl, max, (guildId) => this.#index.shared(guildId));
  }

  get maxPerUser(): number {
    return this.#maxPerUser;
  }

  // ------------------------------------------------------------------------------------------ writes

  /** Saves a new subject. Throws InputError (bad name/context/photos, duplicate name, limit reached). */
  async save(input: SaveSubjectInput): Promise<Subject> {
    assertId(input.ownerId, 'ownerId');
    if (input.guildId !== null) assertId(input.guildId, 'guildId');
    const ownerId = input.ownerId;
    const name = cleanName(input.name);
    const context = cleanContext(input.context);
    if (input.photos.length < 1 || input.photos.length > SUBJECT_MAX_PHOTOS) {
      throw new InputError('subject_photos', `Attach 1 to ${SUBJECT_MAX_PHOTOS} photos of the subject.`);
    }
    // Cheap checks before the expensive part, and again under the lock.
    this.#checkCanAdd(await this.#index.own(ownerId), name);
    if (input.guildId !== null) await this.#checkNoLookalike(input.guildId, ownerId, name);

    // One at a time, so at most one full-size decode is in memory.
    const normalized: NormalizedPhoto[] = [];
    for (const [i, photo] of input.photos.entries()) {
      const bytes = photo instanceof Uint8Array ? photo : photo.bytes;
      const fileName = photo instanceof Uint8Array ? `Photo ${i + 1}` : (photo.name ?? `Photo ${i + 1}`);
      const n = await normalizePhoto(bytes, { name: fileName });
      if (!normalized.some((p) => p.hash === n.hash)) normalized.push(n);
    }

    return this.#lockUser(ownerId, async () => {
      this.#checkCanAdd(await this.#index.own(ownerId), name);
      if (input.guildId !== null) await this.#checkNoLookalike(input.guildId, ownerId, name);
      const now = this.#now();
      const subject: Subject = {
        id: newId(),
        ownerId,
        guildId: input.guildId,
        name,
        ...(context !== undefined ? { context } : {}),
        photoHashes: normalized.map((p) => p.hash),
        sharedIn: null,
        createdAt: now,
        updatedAt: now,
      };
      const ref = subjectRef(subject.id);
      const stored: string[] = [];
      let indexed = false;
      try {
        for (const photo of normalized) {
          await this.#photos.putNormalized(photo, ref);
          stored.push(photo.hash);
        }
        await this.#index.addOwn(ownerId, subject.id);
        indexed = true;
        await this.#store.subjects.set(subjectKey(subject.id), subject);
      } catch (error) {
        // Undo in reverse order; each step is idempotent and a failure here is left to sweep().
        await this.#store.subjects.delete(subjectKey(subject.id)).catch(() => {});
        if (indexed) await this.#index.removeOwn(ownerId, subject.id).catch(() => {});
        await this.#photos.release(stored, ref).catch(() => {});
        throw error;
      } finally {
        this.#own.invalidate(ownerId);
      }
      return subject;
    });
  }

  async rename(userId: string, guildId: string | null, idOrName: string, newName: string): Promise<Subject> {
    const name = cleanName(newName);
    return this.#updateOwned(userId, guildId, idOrName, async (subject) => {
      const own = await this.#index.own(subject.ownerId);
      checkOwnNameFree(own, name, subject.id);
      if (guildId !== null) await this.#checkNoLookalike(guildId, subject.ownerId, name);
      if (subject.sharedIn) await this.#checkSharedNameFree(subject.sharedIn, name, subject.id);
      return { ...subject, name };
    });
  }

  /** Sets or (with undefined / blank) clears the context. Owner only. */
  async setContext(userId: string, guildId: string | null, idOrName: string, context: string | undefined): Promise<Subject> {
    const cleaned = cleanContext(context);
    return this.#updateOwned(userId, guildId, idOrName, async (subject) => {
      const { context: _old, ...rest } = subject;
      return cleaned === undefined ? rest : { ...rest, context: cleaned };
    });
  }

  /**
   * Shares the subject in `guildId` (owner only). A subject is shared in one server at a time: sharing it
   * here moves it from wherever it was shared before.
   */
  async share(userId: string, guildId: string | null, idOrName: string): Promise<Subject> {
    if (guildId === null) throw new InputError('subject_share_dm', 'Subjects can only be shared in a server.');
    assertId(guildId, 'guildId');
    return this.#updateOwned(userId, guildId, idOrName, async (subject) => {
      if (subject.sharedIn === guildId) return subject;
      await this.#checkSharedNameFree(guildId, subject.name, subject.id);
      return { ...subject, sharedIn: guildId };
    });
  }

  /** Stops sharing: the owner (from anywhere), or someone with Manage Server in the server it is shared in. */
  async unshare(
    userId: string,
    guildId: string | null,
    idOrName: string,
    { canManageGuild = false }: { canManageGuild?: boolean } = {},
  ): Promise<Subject> {
    return this.#moderate(userId, guildId, idOrName, canManageGuild, {
      before: (target) => {
        if (target.sharedIn === null) throw new InputError('subject_not_shared', `“${safeText(target.name)}” is not shared.`);
      },
      change: async (current) => (current.sharedIn === null ? current : this.#write(current, { ...current, sharedIn: null, updatedAt: this.#now() })),
    });
  }

  /** Deletes a subject and (when no other subject or job uses them) its photos. */
  async delete(
    userId: string,
    guildId: string | null,
    idOrName: string,
    { canManageGuild = false }: { canManageGuild?: boolean } = {},
  ): Promise<Subject> {
    return this.#moderate(userId, guildId, idOrName, canManageGuild, {
      change: async (current) => {
        await this.#remove(current);
        await this.#jobs?.forgetSubjects(current.ownerId, [current.id]);
        return current;
      },
    });
  }

  /** Deletes every subject of `userId` and the photos no one else uses. */
  async forgetUser(userId: string): Promise<ForgetSubjectsResult> {
    assertId(userId, 'userId');
    return this.#lockUser(userId, async () => {
      const result: ForgetSubjectsResult = { subjects: 0, photos: 0, groundings: 0 };
      const own = await this.#index.own(userId);
      // Past the index too: a record a crash left unindexed is still this user's.
      const ownIds = new Set(own.map((s) => s.id));
      const keys = (await this.#store.keys('subjects')).filter((k) => k.startsWith('s:') && !ownIds.has(k.slice(2)));
      for (let i = 0; i < keys.length; i += 200) {
        const records: (Subject | undefined)[] = await this.#store.subjects.get(keys.slice(i, i + 200));
        for (const r of records) if (r && r.ownerId === userId) own.push(r);
      }
      for (const subject of own) {
        const removed = await this.#remove(subject);
        result.subjects++;
        result.photos += removed.photos;
        result.groundings += removed.groundings;
      }
      await this.#jobs?.forgetSubjects(userId, own.map((s) => s.id)); // one pass over the jobs for all of them
      await this.#index.dropOwn(userId); // dangling ids left by crashes
      this.#own.invalidate(userId);
      return result;
    });
  }

  // ------------------------------------------------------------------------------------------- reads

  /** Own subjects (by name), then those shared by others in this server (by name). */
  async list(userId: string, guildId: string | null): Promise<Subject[]> {
    assertId(userId, 'userId');
    const own = sortByName(await this.#own.get(userId));
    if (guildId === null) return own;
    const shared = (await this.#shared.get(guildId)).filter((s) => s.ownerId !== userId);
    return [...own, ...sortByName(shared)];
  }

  /** How many subjects a user owns. */
  async count(userId: string): Promise<number> {
    return (await this.#own.get(userId)).length;
  }

  /**
   * A subject visible to `userId` in `guildId`, by id (what autocomplete sends) or by name (what someone
   * types; case-insensitive, own subjects first). Throws InputError when there is none.
   */
  async get(userId: string, guildId: string | null, idOrName: string): Promise<Subject> {
    return this.#resolve(userId, guildId, idOrName);
  }

  /** The subject's normalized photos (PNG), in order. */
  async getPhotos(subject: Pick<Subject, 'photoHashes' | 'name'>): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (const hash of subject.photoHashes) {
      const data = await this.#photos.getPhoto(hash);
      if (!data) throw new Error(`photo ${hash} of subject “${subject.name}” is missing from the store`);
      out.push(data);
    }
    return out;
  }

  /**
   * Autocomplete: at most 25 {name, value: id}, own subjects first, then names starting with the query,
   * then names containing it. Served from memory after the first call per user and server.
   */
  async suggest(
    userId: string,
    guildId: string | null,
    query: string,
    options: { ownerLabel?: (ownerId: string) => string | undefined } = {},
  ): Promise<Suggestion[]> {
    if (!isValidId(userId) || (guildId !== null && !isValidId(guildId))) return [];
    const own = await this.#own.get(userId);
    const shared = guildId === null ? [] : (await this.#shared.get(guildId)).filter((s) => s.ownerId !== userId);
    return rankSuggestions(own, shared, query, options.ownerLabel);
  }

  /** For PhotoStore.sweep: is this `subject:<id>` referrer still a subject? Other kinds: undefined. */
  async isLiveRef(ref: string): Promise<boolean | undefined> {
    const m = /^subject:(.+)$/.exec(ref);
    if (!m) return undefined;
    return this.#store.subjects.has(subjectKey(m[1]));
  }

  // -------------------------------------------------------------------------------------- internals

  async #updateOwned(
    userId: string,
    guildId: string | null,
    idOrName: string,
    change: (subject: Subject) => Promise<Subject>,
  ): Promise<Subject> {
    const target = await this.#resolve(userId, guildId, idOrName);
    checkOwner(target, userId);
    return this.#lockUser(userId, async () => {
      const current = await this.#reread(target);
      const next = await change(current);
      if (next === current) return current;
      return this.#write(current, { ...next, updatedAt: this.#now() });
    });
  }

  /**
   * A change the owner or a server moderator may make: checked before taking the owner's lock and
   * again on the record as it is under the lock (it may have been unshared or moved meanwhile).
   */
  async #moderate(
    userId: string,
    guildId: string | null,
    idOrName: string,
    canManageGuild: boolean,
    steps: { before?: (target: Subject) => void; change: (current: Subject) => Promise<Subject> },
  ): Promise<Subject> {
    const target = await this.#resolve(userId, guildId, idOrName);
    checkModerate(target, userId, guildId, canManageGuild);
    steps.before?.(target);
    return this.#lockUser(target.ownerId, async () => {
      const current = await this.#reread(target);
      checkModerate(current, userId, guildId, canManageGuild);
      return steps.change(current);
    });
  }

  /** Writes a changed record and moves it between shared-in indexes. Runs under the owner's lock. */
  async #write(before: Subject, after: Subject): Promise<Subject> {
    try {
      if (after.sharedIn && after.sharedIn !== before.sharedIn) await this.#index.addShared(after.sharedIn, after.id);
      await this.#store.subjects.set(subjectKey(after.id), after);
      if (before.sharedIn && before.sharedIn !== after.sharedIn) await this.#index.removeShared(before.sharedIn, before.id);
    } finally {
      this.#own.invalidate(after.ownerId);
      if (before.sharedIn) this.#shared.invalidate(before.sharedIn);
      if (after.sharedIn) this.#shared.invalidate(after.sharedIn);
    }
    return after;
  }

  /** Removes one subject; returns how many photos and groundings went with it. Runs under the owner's lock. */
  async #remove(subject: Subject): Promise<{ photos: number; groundings: number }> {
    try {
      await this.#store.subjects.delete(subjectKey(subject.id)); // the commit point
      await this.#index.removeOwn(subject.ownerId, subject.id);
      if (subject.sharedIn) await this.#index.removeShared(subject.sharedIn, subject.id);
      const photos = await this.#photos.release(subject.photoHashes, subjectRef(subject.id));
      const groundings = (await this.#groundings?.deleteForSubject(subject.ownerId, subject.photoHashes)) ?? 0;
      return { photos, groundings };
    } finally {
      this.#own.invalidate(subject.ownerId);
      if (subject.sharedIn) this.#shared.invalidate(subject.sharedIn);
    }
  }

  #checkCanAdd(own: Subject[], name: string): void {
    checkOwnNameFree(own, name);
    if (own.length >= this.#maxPerUser) {
      throw new InputError(
        'subject_limit',
        `You already have ${own.length} saved subjects, the most allowed; delete one before saving another.`,
      );
    }
  }

  async #checkSharedNameFree(guildId: string, name: string, exceptId: string): Promise<void> {
    checkSharedNameFree(await this.#index.shared(guildId), name, exceptId);
  }

  async #checkNoLookalike(guildId: string, ownerId: string, name: string): Promise<void> {
    checkNoLookalike(await this.#index.shared(guildId), ownerId, name);
  }

  /** Resolution against fresh reads (not the autocomplete cache). */
  #resolve(userId: string, guildId: string | null, idOrName: string): Promise<Subject> {
    return findSubject(userId, guildId, idOrName, {
      byId: (id) => this.#store.subjects.get(subjectKey(id)),
      own: (ownerId) => this.#index.own(ownerId),
      shared: (sharedIn) => this.#index.shared(sharedIn),
    });
  }

  /** The record as it is now, under the owner's lock; gone means someone else deleted it meanwhile. */
  async #reread(target: Subject): Promise<Subject> {
    const current: Subject | undefined = await this.#store.subjects.get(subjectKey(target.id));
    if (!current || current.ownerId !== target.ownerId) {
      throw new InputError('subject_not_found', `“${safeText(target.name)}” was just deleted.`);
    }
    return current;
  }

  #lockUser<T>(userId: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.locks.run(`user:${userId}`, fn);
  }
}

// ---------------------------------------------------------------------------------------------- helpers

function subjectRef(id: string): PhotoRef {
  return `subject:${id}`;
}

