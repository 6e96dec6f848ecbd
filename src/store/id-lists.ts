import type { Namespace, Store } from './open-store.ts';

/**
 * Lists of ids kept under one key of a namespace: a user's jobs (`jobs` `u:<user>`), a user's subjects and
 * those shared in a server (`subjects` `u:<user>`, `g:<guild>`), the jobs a user gave feedback on and the
 * users who gave feedback on a job (`feedback` `u:<user>`, `j:<job>`). Oldest first, no duplicates; a list
 * that empties is deleted.
 *
 * Every change is a read-modify-write under the list's own lock (`list:<namespace>:<key>`), so two changes
 * of one list never lose each other's update. That lock is the innermost one: it may be taken inside a
 * user's, guild's or job's lock (see keyed-lock.ts), and nothing is locked inside it.
 */
export class IdLists {
  readonly #store: Store;
  readonly #namespace: Namespace;

  constructor(store: Store, namespace: Namespace) {
    this.#store = store;
    this.#namespace = namespace;
  }

  /** The ids under `key`, oldest first; [] when there are none. */
  async list(key: string): Promise<string[]> {
    return ((await this.#store.ns(this.#namespace).get(key)) as string[] | undefined) ?? [];
  }

  /** Appends `id` unless it is there already. */
  async add(key: string, id: string): Promise<void> {
    await this.update(key, (ids) => (ids.includes(id) ? ids : [...ids, id]));
  }

  /** Removes these ids (those not there are ignored). */
  async remove(key: string, ids: readonly string[]): Promise<void> {
    const gone = new Set(ids);
    await this.update(key, (list) => list.filter((id) => !gone.has(id)));
  }

  /** Deletes the whole list. */
  async drop(key: string): Promise<void> {
    await this.#lock(key, async () => void (await this.#store.ns(this.#namespace).delete(key)));
  }

  /**
   * The list as `change` makes it from the current one (it may read the store, not lock anything); written
   * only when it changed, deleted when it is empty.
   */
  async update(key: string, change: (ids: string[]) => readonly string[] | Promise<readonly string[]>): Promise<void> {
    await this.#lock(key, async () => {
      const ns = this.#store.ns(this.#namespace);
      const ids = await this.list(key);
      const next = await change([...ids]);
      if (next.length === ids.length && next.every((id, i) => id === ids[i])) return;
      if (next.length) await ns.set(key, [...next]);
      else await ns.delete(key);
    });
  }

  #lock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.locks.run(`list:${this.#namespace}:${key}`, fn);
  }
}
