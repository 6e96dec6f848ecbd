import { IdLists } from './id-lists.ts';
import type { Store } from './open-store.ts';
import type { Subject } from './subject.ts';

/**
 * Subject records by owner and by the server they are shared in (namespace `subjects`):
 *   s:<id>       -> Subject                        (the record: its presence is the commit point)
 *   u:<ownerId>  -> string[] subject ids           (owner index, oldest first)
 *   g:<guildId>  -> string[] subject ids           (shared-in index, a hint: always re-checked on read)
 * Index entries whose record is missing (left by a crash) are skipped on read and pruned on removal.
 */
export class SubjectIndex {
  readonly #store: Store;
  readonly #lists: IdLists;

  constructor(store: Store) {
    this.#store = store;
    this.#lists = new IdLists(store, 'subjects');
  }

  /** The subjects `userId` owns, through the owner index. */
  async own(userId: string): Promise<Subject[]> {
    return (await this.#load(`u:${userId}`)).filter((s) => s.ownerId === userId);
  }

  /** The subjects shared in `guildId`, through the shared-in index. */
  async shared(guildId: string): Promise<Subject[]> {
    return (await this.#load(`g:${guildId}`)).filter((s) => s.sharedIn === guildId);
  }

  addOwn(ownerId: string, id: string): Promise<void> {
    return this.#lists.add(`u:${ownerId}`, id);
  }

  removeOwn(ownerId: string, id: string): Promise<void> {
    return this.#remove(`u:${ownerId}`, id);
  }

  addShared(guildId: string, id: string): Promise<void> {
    return this.#lists.add(`g:${guildId}`, id);
  }

  removeShared(guildId: string, id: string): Promise<void> {
    return this.#remove(`g:${guildId}`, id);
  }

  /** Drops a user's whole owner index (its dangling ids too). */
  dropOwn(userId: string): Promise<void> {
    return this.#lists.drop(`u:${userId}`);
  }

  async #load(indexKey: string): Promise<Subject[]> {
    const ids = await this.#lists.list(indexKey);
    if (ids.length === 0) return [];
    const records: (Subject | undefined)[] = await this.#store.subjects.get(ids.map(subjectKey));
    return records.filter((s): s is Subject => s !== undefined && s !== null);
  }

  /** Also prunes ids whose record is gone (left by a crash). */
  #remove(indexKey: string, id: string): Promise<void> {
    return this.#lists.update(indexKey, async (ids) => {
      const records: (Subject | undefined)[] = ids.length ? await this.#store.subjects.get(ids.map(subjectKey)) : [];
      return ids.filter((x, i) => x !== id && records[i]);
    });
  }
}

/** The key of a subject's record. */
export function subjectKey(id: string): string {
  return `s:${id}`;
}
