import type { JobRecord, KeptResult, Stores } from '../store/index.ts';
import type { JobStatus } from '../store/job-record.ts';
import { isStoreOutage } from '../store/store-outage.ts';
import { firstLine } from '../util/first-line.ts';

/** Pauses between attempts at a write that must not be lost (a drawn image, a posted one). */
const WRITE_RETRY_DELAYS_MS = [50, 250, 1_000, 2_000];
/**
 * While the store itself is away (Redis restarting: seconds to come back, then the client's reconnect
 * back-off), such a write waits for it: pauses from the first doubling to the longest, for at most the
 * whole. Longer than that, a later attempt (redelivery, restart recovery) makes it good.
 */
const OUTAGE_WAIT_FIRST_MS = 250;
const OUTAGE_WAIT_LONGEST_MS = 5_000;
const OUTAGE_WAIT_WHOLE_MS = 60_000;

/** What a restarted process does with a job a dead one left 'queued' or 'running'. */
export type RestartDecision =
  | { kind: 'deliver' }
  | { kind: 'resume'; record: JobRecord }
  | { kind: 'follow'; record: JobRecord }
  | { kind: 'gave-up'; record: JobRecord }
  | { kind: 'ended' };

/**
 * The one writer of a job record's status. A job moves queued -> running -> drawn -> done, or to failed
 * or cancelled; a restarted process puts one back to queued (resumed). 'drawn' means its images are in
 * the store (JobStore.keepResult, written before the status): a process killed at any instant after
 * drawing leaves them for the next one to post, and 'done' means posted (the record says where).
 * Runners (GenerationService in-process, ClusterRunner and the model workers through Redis) and the
 * bot's delivery report to it; nothing else writes a job's status.
 */
export class JobLife {
  readonly #stores: Stores;

  constructor(stores: Stores) {
    this.#stores = stores;
  }

  /** The model started on it. */
  async started(jobId: string): Promise<void> {
    await this.#stores.jobs.update(jobId, { status: 'running' });
  }

  /**
   * Drawn: the images are kept, then the record says drawn (with the stage-1 text), each write retried
   * (through a store outage too with `waitForStore`).
   * Returns the record as written; if the store keeps failing, the record as it would be (the caller
   * still has the images in memory and posts them; `posted` writes the record then).
   */
  async drawn(job: JobRecord, kept: KeptResult, grounding: string, { waitForStore }: { waitForStore: boolean }): Promise<JobRecord> {
    const { jobs } = this.#stores;
    const keptOk = await retried(() => jobs.keepResult(job.id, kept), { waitOutOutage: waitForStore }).then(
      () => true,
      () => false,
    );
    if (!keptOk) return { ...job, status: 'drawn', grounding };
    return retried(() => jobs.update(job.id, { status: 'drawn', grounding }), { waitOutOutage: waitForStore }).catch(() => ({ ...job, status: 'drawn' as const, grounding }));
  }

  /** Posted: the record says done and where; the kept images are dropped (after the record, so a kill in between loses nothing). */
  async posted(jobId: string, where: { messageId: string; threadId?: string; grounding?: string }): Promise<void> {
    const { jobs } = this.#stores;
    if (!(await retried(() => jobs.exists(jobId)))) return;
    await retried(() => jobs.update(jobId, { status: 'done', messageId: where.messageId, ...(where.threadId ? { threadId: where.threadId } : {}), ...(where.grounding ? { grounding: where.grounding } : {}) }));
    await retried(() => jobs.dropKeptResult(jobId));
  }

  /** Kept images left behind by a job that is gone or already posted (a kill between the two writes of `posted`). */
  async dropLeftover(jobId: string): Promise<void> {
    await this.#stores.jobs.dropKeptResult(jobId);
  }

  /** Drawn but not posted (Discord refused): the kept images are written again with where they go. */
  async keptForLater(jobId: string, kept: KeptResult): Promise<void> {
    await retried(() => this.#stores.jobs.keepResult(jobId, kept));
  }

  /**
   * The run ended without images: failed or cancelled, with the error's first line. Only a job still
   * queued or running is settled so (one drawn or posted keeps its images, one already settled its reason).
   * Returns whether the record was written. The read and the write wait out a store outage like the
   * writes above (a runner settling a job); with `waitForStore: false` (a click that must be answered
   * within seconds) an outage is thrown to the caller instead, never read as "nothing to settle".
   */
  async settled(jobId: string, status: 'failed' | 'cancelled', err?: unknown, { waitForStore = true }: { waitForStore?: boolean } = {}): Promise<boolean> {
    const { jobs } = this.#stores;
    const attempt = waitForStore ? retried : <T>(op: () => Promise<T>) => op();
    const current = await attempt(() => jobs.get(jobId));
    if (!current || !isOpen(current.status)) return false;
    await attempt(() => jobs.update(jobId, { status, ...(err === undefined ? {} : { error: firstLine(err) }) }));
    return true;
  }

  /**
   * At start, for a job a dead process left unfinished. A job with kept images is delivered (never drawn
   * again); one that runs on model workers ('follow') is followed again; one that runs here is put back
   * in the queue, unless the process already died once while running it and it was running again when
   * the process died: then it is failed with `gaveUpReason` (the loop guard). A job that was only
   * waiting is never blamed.
   */
  async afterRestart(jobId: string, runner: 'run-again' | 'follow', gaveUpReason: string): Promise<RestartDecision> {
    const { jobs } = this.#stores;
    const current = await jobs.get(jobId);
    if (!current || !isOpen(current.status) && current.status !== 'drawn') return { kind: 'ended' };
    if (current.status === 'drawn' || (await jobs.keptResult(jobId))) return { kind: 'deliver' };
    if (runner === 'follow') return { kind: 'follow', record: current };
    const wasRunning = current.status === 'running';
    if (wasRunning && (current.crashes ?? 0) >= 1) {
      const record = await jobs.update(jobId, { status: 'failed', error: gaveUpReason, crashes: (current.crashes ?? 0) + 1 });
      return { kind: 'gave-up', record };
    }
    const record = await jobs.update(jobId, {
      status: 'queued',
      resumes: (current.resumes ?? 0) + 1,
      ...(wasRunning ? { crashes: (current.crashes ?? 0) + 1 } : {}),
    });
    return { kind: 'resume', record };
  }

  /** A job a restarted process cannot deliver to (its channel is gone). */
  async unreachable(jobId: string, reason: string): Promise<void> {
    const current = await this.#stores.jobs.get(jobId);
    if (current && !FINAL.includes(current.status)) await this.#stores.jobs.update(jobId, { status: 'failed', error: reason });
  }
}

const FINAL: readonly JobStatus[] = ['done', 'failed', 'cancelled'];

function isOpen(status: JobStatus): boolean {
  return status === 'queued' || status === 'running';
}

async function retried<T>(write: () => Promise<T>, { waitOutOutage = true }: { waitOutOutage?: boolean } = {}): Promise<T> {
  const giveUpAt = Date.now() + OUTAGE_WAIT_WHOLE_MS;
  let outagePause = OUTAGE_WAIT_FIRST_MS;
  for (let attempt = 0; ; ) {
    try {
      return await write();
    } catch (err) {
      if (/does not exist/.test((err as Error)?.message ?? '')) throw err;
      let delay: number | undefined;
      if (waitOutOutage && isStoreOutage(err)) {
        delay = Date.now() + outagePause <= giveUpAt ? outagePause : undefined;
        outagePause = Math.min(outagePause * 2, OUTAGE_WAIT_LONGEST_MS);
      } else {
        delay = WRITE_RETRY_DELAYS_MS[attempt++];
      }
      if (delay === undefined) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
