/** When a waiting job starts and ends, from the average job time: running jobs end at startedAt + average, each place then takes the jobs ahead in order. */
export function projectEta(input: { position: number; concurrency: number; runningStartedAt: readonly number[]; averageJobMs: number; now: number }): {
  position: number;
  startsInMs: number;
  finishesInMs: number;
} {
  const avg = Math.max(0, input.averageJobMs);
  // When each place is next free, in ms from now.
  const free = input.runningStartedAt.map((startedAt) => Math.max(0, startedAt + avg - input.now));
  while (free.length < input.concurrency) free.push(0);
  for (let i = 0; i < input.position - 1; i++) {
    free.sort((a, b) => a - b);
    free[0] += avg;
  }
  const startsInMs = Math.min(...free);
  return { position: input.position, startsInMs, finishesInMs: startsInMs + avg };
}
