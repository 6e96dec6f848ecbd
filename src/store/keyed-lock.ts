/**
 * In-process mutual exclusion per key (a promise chain per key).
 *
 * Every read-modify-write of the store (an index list, a photo's reference list, a job record) runs under
 * the lock of what it modifies, so two interactions of the same user cannot interleave and lose an update.
 * This only protects one process: with Redis shared by several bot processes, the writes of one user must
 * still come from one process (the usual setup: the shard that received the interaction).
 *
 * Lock order, to stay free of deadlocks: a user lock may take a guild, photo or job lock inside it, never
 * the reverse, and nothing takes two user locks.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys currently held or awaited (for tests and diagnostics). */
  get size(): number {
    return this.#tails.size;
  }
}
