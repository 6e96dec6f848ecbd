import { assertId, isValidId } from './ids.ts';
import { IdLists } from './id-lists.ts';
import type { Store } from './open-store.ts';

/**
 * One user's signals on one job's candidates (keyed by a candidate's `drawn` index): the pick, 👍/👎
 * on the candidate shown when they reacted, and which shown candidate was regenerated or refined.
 */
export interface FeedbackRow {
  version: 1;
  jobId: string;
  userId: string;
  at: number;
  picked?: number;
  thumbs: Record<string, 'up' | 'down'>;
  regenerated: number[];
  refined: number[];
}

export type FeedbackChange =
  | { kind: 'pick'; drawn: number }
  | { kind: 'thumb'; drawn: number; thumb: 'up' | 'down'; on: boolean }
  | { kind: 'regenerated' | 'refined'; drawn: number };

/**
 * Namespace `feedback`: `s:<job>:<user>` a row, `u:<user>` the jobs a user gave feedback on, `j:<job>`
 * the users who did. Rows go with their job (JobStore's removal hook) and with their user (forgetUser).
 */
export class FeedbackStore {
  /** `u:<user>` and `j:<job>`. */
  private readonly index: IdLists;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {
    this.index = new IdLists(store, 'feedback');
  }

  private get ns() {
    return this.store.ns('feedback');
  }

  async record(jobId: string, userId: string, change: FeedbackChange): Promise<FeedbackRow> {
    assertId(jobId, 'job id');
    assertId(userId, 'user id');
    return this.store.locks.run(`feedback:${jobId}`, async () => {
      const row: FeedbackRow = (await this.ns.get(rowKey(jobId, userId))) ?? { version: 1, jobId, userId, at: this.now(), thumbs: {}, regenerated: [], refined: [] };
      const next = apply({ ...row, thumbs: { ...row.thumbs }, at: this.now() }, change);
      await this.index.add(userKey(userId), jobId);
      await this.index.add(jobKey(jobId), userId);
      await this.ns.set(rowKey(jobId, userId), next);
      return next;
    });
  }

  async rows(jobId: string): Promise<FeedbackRow[]> {
    if (!isValidId(jobId)) return [];
    const users = await this.index.list(jobKey(jobId));
    if (!users.length) return [];
    const rows: (FeedbackRow | undefined)[] = await this.ns.get(users.map((u) => rowKey(jobId, u)));
    return rows.filter((r): r is FeedbackRow => r !== undefined);
  }

  /** Every row of a job (its result was deleted or expired). */
  async deleteForJob(jobId: string): Promise<number> {
    if (!isValidId(jobId)) return 0;
    return this.store.locks.run(`feedback:${jobId}`, async () => {
      const users = await this.index.list(jobKey(jobId));
      for (const userId of users) {
        await this.ns.delete(rowKey(jobId, userId));
        await this.index.remove(userKey(userId), [jobId]);
      }
      await this.index.drop(jobKey(jobId));
      return users.length;
    });
  }

  /** Every row a user made, found by the index and by a scan (so nothing a crash left unindexed stays). */
  async deleteForUser(userId: string): Promise<number> {
    assertId(userId, 'user id');
    const jobs = new Set<string>(await this.index.list(userKey(userId)));
    for (const key of await this.store.keys('feedback')) {
      const m = /^s:([^:]+):([^:]+)$/.exec(key);
      if (m && m[2] === userId) jobs.add(m[1]);
    }
    for (const jobId of jobs) {
      await this.store.locks.run(`feedback:${jobId}`, async () => {
        await this.ns.delete(rowKey(jobId, userId));
        await this.index.remove(jobKey(jobId), [userId]);
      });
    }
    await this.index.drop(userKey(userId));
    return jobs.size;
  }
}

function apply(row: FeedbackRow, change: FeedbackChange): FeedbackRow {
  const key = String(change.drawn);
  switch (change.kind) {
    case 'pick':
      return { ...row, picked: change.drawn };
    case 'thumb':
      if (change.on) row.thumbs[key] = change.thumb;
      else if (row.thumbs[key] === change.thumb) delete row.thumbs[key];
      return row;
    case 'regenerated':
    case 'refined': {
      const list = row[change.kind];
      return list.includes(change.drawn) ? row : { ...row, [change.kind]: [...list, change.drawn] };
    }
  }
}

function rowKey(jobId: string, userId: string): string {
  return `s:${jobId}:${userId}`;
}

function userKey(userId: string): string {
  return `u:${userId}`;
}

function jobKey(jobId: string): string {
  return `j:${jobId}`;
}
