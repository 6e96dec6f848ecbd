import type { Logger } from 'pino';
import type { JobRecord, Stores } from '../../store/index.ts';
import type { Quota } from '../quota.ts';
import type { QueueReservation } from '../queue-view.ts';

/**
 * What one admitted job holds while it is made and run: its place in the queue (which carries the
 * per-user place: the queue counts it against the user's and the server's caps) and its images against
 * the quota. Submitting the job with the ticket's id turns the place into the job; release() gives back
 * whatever the job no longer needs.
 */
export interface AdmissionTicket {
  readonly jobId: string;
  /**
   * Call once the job's run is over, or instead of running it (refused, its intake failed): the queue
   * place is given back if no job took it, and the images are given back unless the model started on
   * the job (that work was done, whatever happened next). Idempotent; never throws.
   */
  release(): Promise<void>;
}

/** The model started on the job: the record says so (runners report it to the job's life), or it drew. */
export function modelStarted(record: JobRecord | undefined): boolean {
  return record?.startedAt !== undefined || record?.status === 'drawn' || record?.status === 'done';
}

export class HeldTicket implements AdmissionTicket {
  readonly jobId: string;
  readonly #place: QueueReservation;
  readonly #quota: Quota;
  readonly #stores: Stores;
  readonly #logger: Pick<Logger, 'warn'>;
  #released: Promise<void> | undefined;

  constructor(jobId: string, place: QueueReservation, parts: { quota: Quota; stores: Stores; logger: Pick<Logger, 'warn'> }) {
    this.jobId = jobId;
    this.#place = place;
    this.#quota = parts.quota;
    this.#stores = parts.stores;
    this.#logger = parts.logger;
  }

  release(): Promise<void> {
    this.#released ??= this.#releaseOnce();
    return this.#released;
  }

  async #releaseOnce(): Promise<void> {
    const jobId = this.jobId;
    await Promise.resolve(this.#place.release()).catch((err: unknown) => this.#logger.warn({ err, job: jobId }, 'queue place release failed'));
    const record = await this.#stores.jobs.get(jobId).catch(() => undefined);
    if (modelStarted(record)) this.#quota.settle(jobId);
    else await this.#quota.refund(jobId).catch((err: unknown) => this.#logger.warn({ err, job: jobId }, 'quota refund failed'));
  }
}
