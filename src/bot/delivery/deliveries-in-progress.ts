import type { PostingStopper } from '../../jobs/forget-reach.ts';

/** Results this process is posting now, by job, so that forget-me can stop its user's and wait for them. */
interface Delivery {
  ownerId: string;
  controller: AbortController;
  ended: Promise<void>;
}

/** Longest a user's postings are held back without a release (the forgetting gateway died meanwhile). */
const HOLD_MAX_MS = 5 * 60_000;

const inProgress = new Map<string, Delivery>();
/** Users being forgotten: user id -> when the hold lapses. A posting of theirs starts stopped. */
const held = new Map<string, number>();

/** Runs one posting of `jobId`'s result; `signal` aborts when its owner is forgotten (at once while the owner is held back). */
export async function trackDelivery<T>(jobId: string, ownerId: string, post: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  if (isHeld(ownerId)) controller.abort();
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const delivery = { ownerId, controller, ended };
  inProgress.set(jobId, delivery);
  try {
    return await post(controller.signal);
  } finally {
    if (inProgress.get(jobId) === delivery) inProgress.delete(jobId);
    end();
  }
}

/**
 * Stops every posting of `userId`'s results, holds new ones back until releaseDeliveriesOf (or at most
 * HOLD_MAX_MS), and waits (at most `timeoutMs`) until each stopped one has ended; returns how many there were.
 */
export async function stopDeliveriesOf(userId: string, timeoutMs: number): Promise<number> {
  held.set(userId, Date.now() + HOLD_MAX_MS);
  const mine = [...inProgress.values()].filter((d) => d.ownerId === userId);
  for (const d of mine) d.controller.abort();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(mine.map((d) => d.ended)), timeout]);
  clearTimeout(timer);
  return mine.length;
}

/** `userId` is forgotten: their postings are no longer held back (their records are gone, so a later one is refused anyway). */
export function releaseDeliveriesOf(userId: string): void {
  held.delete(userId);
}

/** This process's side of forget-me's reach (src/jobs/forget-reach.ts). */
export const postingStopper: PostingStopper = {
  stop: async (userId, timeoutMs) => {
    await stopDeliveriesOf(userId, timeoutMs);
  },
  release: releaseDeliveriesOf,
};

function isHeld(userId: string): boolean {
  const until = held.get(userId);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  held.delete(userId);
  return false;
}
