import { assertId, isValidId } from './ids.ts';
import type { Store } from './open-store.ts';

/** A thread the bot made for a result: the job a reply in it refines (the latest posted there) and its owner. */
export interface ThreadLink {
  jobId: string;
  ownerId: string;
}

const PREFIX = 'thread:';
const SCAN_BATCH = 200;

/**
 * The threads the bot made, linked to their job and owner, so a reply in one is matched to them after a
 * restart too (src/bot/thread-refinement.ts). Namespace `meta`, key `thread:<thread id>`: the form the bot
 * always wrote them in, so links an older version made are found, forgotten and expired like new ones.
 *
 * A link names its owner: forgetUser() deletes a user's links (also those of jobs already gone), and
 * cleanup() (Stores.maintenance) deletes links whose job record is gone (expired or forgotten), after
 * which a reply in the thread is no longer answered.
 */
export class ThreadLinks {
  readonly #store: Store;
  readonly #jobExists: (jobId: string) => Promise<boolean>;

  constructor(store: Store, jobExists: (jobId: string) => Promise<boolean>) {
    this.#store = store;
    this.#jobExists = jobExists;
  }

  /**
   * Links a thread to the job just posted in it (a later result in the same thread replaces the link).
   * Refused (false) when the job no longer exists: a job forgotten while it was being posted leaves no
   * link naming its owner. Checked under the owner's job lock, the lock forgetting the owner's jobs holds.
   */
  async link(threadId: string, jobId: string, ownerId: string): Promise<boolean> {
    assertId(threadId, 'thread id');
    assertId(jobId, 'job id');
    assertId(ownerId, 'ownerId');
    const link: ThreadLink = { jobId, ownerId };
    return this.#store.locks.run(`jobs:${ownerId}`, async () => {
      if (!(await this.#jobExists(jobId))) return false;
      await this.#store.meta.set(linkKey(threadId), link);
      return true;
    });
  }

  /** The job and owner of a thread the bot made; undefined for any other thread. */
  async lookup(threadId: string): Promise<ThreadLink | undefined> {
    if (!isValidId(threadId)) return undefined;
    return asLink(await this.#store.meta.get(linkKey(threadId)));
  }

  /** Deletes every link naming `userId`; returns how many. */
  async forgetUser(userId: string): Promise<number> {
    assertId(userId, 'userId');
    // The raw value's owner: a link this version could not read is still deleted when it names the user.
    return this.#deleteWhere(async (values) => values.map((value) => (value as Partial<ThreadLink> | null | undefined)?.ownerId === userId));
  }

  /** Deletes links whose job record is gone (retention); returns how many. */
  async cleanup(jobExists: (jobId: string) => Promise<boolean>): Promise<number> {
    return this.#deleteWhere((values) =>
      Promise.all(
        values.map(async (value) => {
          const link = asLink(value);
          return link !== undefined && !(await jobExists(link.jobId));
        }),
      ),
    );
  }

  /** Every link's stored value, read in batches; those `drop` picks are deleted. */
  async #deleteWhere(drop: (values: unknown[]) => Promise<boolean[]>): Promise<number> {
    const keys = (await this.#store.keys('meta')).filter((k) => k.startsWith(PREFIX));
    let deleted = 0;
    for (let i = 0; i < keys.length; i += SCAN_BATCH) {
      const batch = keys.slice(i, i + SCAN_BATCH);
      const values = (await this.#store.meta.get(batch)) as unknown[];
      const picked = await drop(values);
      const gone = batch.filter((_, n) => picked[n]);
      if (gone.length) {
        await this.#store.meta.delete(gone);
        deleted += gone.length;
      }
    }
    return deleted;
  }
}

function linkKey(threadId: string): string {
  return `${PREFIX}${threadId}`;
}

function asLink(value: unknown): ThreadLink | undefined {
  const v = value as Partial<ThreadLink> | null | undefined;
  return v && typeof v.jobId === 'string' && typeof v.ownerId === 'string' ? { jobId: v.jobId, ownerId: v.ownerId } : undefined;
}
