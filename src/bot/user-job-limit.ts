import { InputError } from '../errors.ts';
import type { QueueView } from '../jobs/queue-view.ts';

/** Admissions still being taken in (photos downloading, not yet in the queue), per queue, per user and server. */
const intakes = new WeakMap<QueueView, Map<string, number>>();

export interface UserJobAdmission {
  /** Call once the job is in the queue (or was refused): from then on the queue counts it. */
  release(): void;
}

/**
 * A server's cap on the images one member may have waiting or running there at once (/settings
 * jobs_per_user; 0 = none): the queue's jobs of that member in that server, plus their requests still
 * being taken in. Synchronous, so two quick requests cannot both take the last place.
 */
export function admitUserJob(queue: QueueView, userId: string, guildId: string | null, limit: number): UserJobAdmission {
  if (guildId === null || limit <= 0) return { release: () => {} };
  let pending = intakes.get(queue);
  if (!pending) intakes.set(queue, (pending = new Map()));
  const key = `${guildId}:${userId}`;
  const snap = queue.snapshot();
  const inQueue = [...snap.running.filter((j) => !j.cancelling), ...snap.waiting].filter((j) => j.userId === userId && j.guildId === guildId).length;
  const count = inQueue + (pending.get(key) ?? 0);
  if (count >= limit) {
    throw new InputError(
      'jobs_per_user',
      `This server allows ${limit} image${limit === 1 ? '' : 's'} per member in the queue at once, and you have ${count}; wait for one to finish.`,
    );
  }
  pending.set(key, (pending.get(key) ?? 0) + 1);
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      const left = (pending.get(key) ?? 1) - 1;
      if (left > 0) pending.set(key, left);
      else pending.delete(key);
    },
  };
}
