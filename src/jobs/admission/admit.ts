import type { Logger } from 'pino';
import type { JobRecord, Stores } from '../../store/index.ts';
import type { Quota } from '../quota.ts';
import type { QueueView } from '../queue-view.ts';
import { HeldTicket, type AdmissionTicket } from './admission-ticket.ts';

/** What admission decides with: the queue (its caps and the per-user cap), the quota, and the job records. */
export interface AdmissionParts {
  queue: QueueView;
  quota: Quota;
  stores: Stores;
  logger: Pick<Logger, 'warn'>;
}

export interface AdmissionRequest {
  userId: string;
  guildId: string | null;
  /** Images the job will draw (every candidate of a group counts). */
  images: number;
  /** The server's cap on one member's jobs there, waiting or running (/settings jobs_per_user; 0 or absent: none). */
  jobsPerUser?: number;
}

/** A stored job and the ticket it was admitted under: run it with the ticket (startJob), which releases it after. */
export interface AdmittedJob {
  job: JobRecord;
  ticket: AdmissionTicket;
}

/**
 * Whether a job would be let in now: throws the refusal (the queue's caps, the server's per-user cap,
 * the quota) and holds nothing. The early answer before anything public is posted; admitJob decides.
 */
export async function checkAdmission(parts: AdmissionParts, request: AdmissionRequest): Promise<void> {
  await parts.queue.assertAccepts(request.userId, request.guildId, request.jobsPerUser ?? 0);
  await parts.quota.check(request.userId, request.guildId, request.images);
}

/**
 * The one admission of a job: its place in the queue is taken (the queue's caps and the per-user cap,
 * decided under the queue's own lock: in-process synchronously, in Redis under the admission lock, so N
 * requests at once against a cap of K get K places), then its images from the quota; then `make` does
 * the slow part (photos, the record) under job id `jobId`. Refused or failed: everything taken is given
 * back and the error thrown. Else the job and its ticket, which the run releases.
 */
export async function admitJob(parts: AdmissionParts, jobId: string, request: AdmissionRequest, make: () => Promise<JobRecord>): Promise<AdmittedJob> {
  const place = await parts.queue.reserve(jobId, request.userId, request.guildId, request.jobsPerUser ?? 0);
  try {
    await parts.quota.take(jobId, request.userId, request.guildId, request.images);
  } catch (err) {
    await place.release();
    throw err;
  }
  const ticket = new HeldTicket(jobId, place, parts);
  try {
    return { job: await make(), ticket };
  } catch (err) {
    await ticket.release();
    throw err;
  }
}
