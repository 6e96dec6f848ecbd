import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { KEYS } from './cluster-names.ts';

/** What a queued job carries in Redis: who it is for (the job record itself is in the store). */
export interface ClusterJobData {
  userId: string;
  guildId: string | null;
  enqueuedAt: number;
}

const WAITING_TYPES = ['wait', 'prioritized'] as const;

/** Waiting jobs in the order workers take them: the plain list first, then by priority. */
export async function waitingJobs(queue: Queue<ClusterJobData>): Promise<Job<ClusterJobData>[]> {
  const [plain, prioritized] = await Promise.all(WAITING_TYPES.map((t) => queue.getJobs([t], 0, -1, true)));
  return [...plain, ...prioritized].filter((j): j is Job<ClusterJobData> => Boolean(j));
}

/** Sum of the live model workers' concurrency (each renews its key while it runs). */
export async function liveCapacity(redis: Redis): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEYS.workerPrefix}*`, 'COUNT', 100);
    cursor = next;
    if (keys.length) for (const v of await redis.mget(...keys)) total += Number(v ?? 0);
  } while (cursor !== '0');
  return total;
}
