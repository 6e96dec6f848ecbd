/** Results this process is posting now, by job, so that forget-me can stop its user's and wait for them. */
interface Delivery {
  ownerId: string;
  controller: AbortController;
  ended: Promise<void>;
}

const inProgress = new Map<string, Delivery>();

/** Runs one posting of `jobId`'s result; `signal` aborts when its owner is forgotten. */
export async function trackDelivery<T>(jobId: string, ownerId: string, post: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
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

/** Stops every posting of `userId`'s results and waits (at most `timeoutMs`) until each has ended; returns how many there were. */
export async function stopDeliveriesOf(userId: string, timeoutMs: number): Promise<number> {
  const mine = [...inProgress.values()].filter((d) => d.ownerId === userId);
  for (const d of mine) d.controller.abort();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(mine.map((d) => d.ended)), timeout]);
  clearTimeout(timer);
  return mine.length;
}
