/** What the fair order knows of a waiting job: whose it is, and when it came (a sequence number). */
export interface Turn {
  userId: string;
  seq: number;
}

/**
 * The one rule for which job starts next: the head job of the user served least recently (`servedAt`:
 * the user's last serve tick, 0 for never); ties go to the older job. Round-robin across users, FIFO
 * within a user.
 */
export function nextJob<T extends Turn>(heads: readonly T[], servedAt: (userId: string) => number): T | undefined {
  let best: T | undefined;
  let bestServed = 0;
  for (const head of heads) {
    const served = servedAt(head.userId);
    if (!best || served < bestServed || (served === bestServed && head.seq < best.seq)) {
      best = head;
      bestServed = served;
    }
  }
  return best;
}

/**
 * Waiting jobs (per user, FIFO) in the order nextJob would start them if every user could run one,
 * from the serve ticks so far (`lastServed`, the latest `tick`): the positions the queue shows.
 */
export function projectedOrder<T extends Turn>(waiting: ReadonlyMap<string, readonly T[]>, lastServed: ReadonlyMap<string, number>, tick: number): T[] {
  const next = new Map<string, number>();
  const served = new Map(lastServed);
  const order: T[] = [];
  for (;;) {
    const heads: T[] = [];
    for (const [userId, list] of waiting) {
      const head = list[next.get(userId) ?? 0];
      if (head) heads.push(head);
    }
    const best = nextJob(heads, (userId) => served.get(userId) ?? 0);
    if (!best) break;
    order.push(best);
    next.set(best.userId, (next.get(best.userId) ?? 0) + 1);
    served.set(best.userId, ++tick);
  }
  return order;
}
