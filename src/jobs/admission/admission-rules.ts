import { InputError, QueueFullError } from '../../errors.ts';

/** The caps a new job is checked against (JobQueueOptions' names). */
export interface AdmissionCaps {
  maxWaitingPerUser: number;
  maxPerGuild: number;
  maxQueueLength: number;
}

/** What the queue holds right now, from the new job's point of view (places held for jobs being made count as those jobs). */
export interface AdmissionCounts {
  /** Whether the job would start at once (a free place, and nothing of this user's waiting). */
  startsNow: boolean;
  /** This user's jobs waiting. */
  userWaiting: number;
  /** This user's jobs in this server, waiting or running (0 outside a server). */
  userInGuild: number;
  /** This server's jobs waiting or running (0 outside a server). */
  inGuild: number;
  /** All jobs waiting. */
  waiting: number;
  guildId: string | null;
}

/**
 * The refusal for a job the caps do not let in, or undefined: one rule for the in-process queue and the
 * Redis one. `jobsPerUser` is the server's own cap on one member's jobs there (/settings jobs_per_user;
 * 0: none).
 */
export function admissionRefusal(counts: AdmissionCounts, caps: AdmissionCaps, jobsPerUser = 0): InputError | undefined {
  if (counts.guildId !== null && jobsPerUser > 0 && counts.userInGuild >= jobsPerUser) {
    return new InputError(
      'jobs_per_user',
      `This server allows ${plural(jobsPerUser, 'image')} per member in the queue at once, and you have ${counts.userInGuild}; wait for one to finish.`,
    );
  }
  if (!counts.startsNow && counts.userWaiting >= caps.maxWaitingPerUser) {
    return new QueueFullError(
      'user',
      caps.maxWaitingPerUser === 0
        ? 'You already have an image being made; wait for it to finish.'
        : `You already have ${plural(counts.userWaiting, 'image')} waiting; wait for one to finish.`,
    );
  }
  if (counts.guildId !== null && Number.isFinite(caps.maxPerGuild) && counts.inGuild >= caps.maxPerGuild) {
    return new QueueFullError('guild', `This server already has ${plural(counts.inGuild, 'image')} in the queue; try again when one finishes.`);
  }
  if (!counts.startsNow && counts.waiting >= caps.maxQueueLength) {
    return new QueueFullError('queue', `The queue is full right now (${counts.waiting} waiting); try again in a few minutes.`);
  }
  return undefined;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
