/** BullMQ's largest job priority (lower runs first). */
export const MAX_PRIORITY = 2_097_151;

/**
 * Start-time fair queueing on BullMQ priorities: a user's next job gets the later of the virtual time
 * (the priority of the job a worker started last) and one past the user's own latest queued or running
 * job. Users with work waiting are then served in turns, a newcomer goes ahead of the second job of
 * everyone else, and jobs of one priority run in the order they came (BullMQ keeps FIFO within a
 * priority). The virtual time goes back to 0 whenever the queue is empty; in a queue that never empties,
 * priorities past MAX_PRIORITY stay at it (then plain FIFO).
 */
export function fairPriority(virtualTime: number, userPriorities: readonly number[]): number {
  const latest = userPriorities.reduce((a, b) => Math.max(a, b), 0);
  return Math.min(MAX_PRIORITY, Math.max(1, virtualTime, latest + 1));
}
