import type { AdmissionTicket } from '../jobs/admission/admission-ticket.ts';
import type { JobRecord } from '../store/index.ts';
import type { BotDeps } from './bot-deps.ts';
import type { DeliverTarget } from './delivery/delivery-target.ts';
import { runJob } from './run-job.ts';
import type { StatusMessage } from './status/status-message.ts';

/** The first line of a resumed job's status. */
export const RESUMED_NOTE = 'The bot restarted; your image is back in the queue.';
/** The first line of a followed job's status after a gateway restart (JOB_QUEUE=redis: the job never stopped). */
export const FOLLOWED_NOTE = 'The bot restarted; your image is still being made.';

/** Where and how the result is posted (see DeliverTarget; the status is startJob's own argument), and what admitted the job. */
export type StartJobOptions = Omit<DeliverTarget, 'status'> & {
  /** A first line for the status while the job runs (a refinement: what it changed). */
  note?: string;
} & (
    | {
        /** The ticket the job was admitted under (admitJob): released when the run is over. */
        ticket: AdmissionTicket;
        resumed?: never;
      }
    | {
        /**
         * A job a restarted bot put back in the queue (restart-recovery.ts): its status starts with
         * RESUMED_NOTE, and it holds no ticket here (the process that admitted it took its images, and
         * they stay used).
         */
        resumed: true;
        ticket?: never;
      }
  );

/**
 * The one way a stored job is run and delivered, whoever made it (/personalize, the buttons under a
 * result, a reply in its thread, a restarted bot): queued with `status` kept current (runJob), the
 * result posted by deliverFinishedJob to the target in `options`, or the status says why not, and then
 * its admission ticket released (its images kept if the model started on it, else given back). The job
 * is in the queue when this returns its promise (nothing is awaited before). Never throws.
 */
export function startJob(deps: BotDeps, job: JobRecord, status: StatusMessage, options: StartJobOptions): Promise<void> {
  const { resumed, ticket, note, ...target } = options;
  if (resumed) return runJob(deps, job, { ...target, status }, { note: deps.runner.afterRestart === 'follow' ? FOLLOWED_NOTE : RESUMED_NOTE });
  const running = runJob(deps, job, { ...target, status }, note ? { note } : {});
  return running.finally(() => ticket.release());
}
