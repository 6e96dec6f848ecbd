import { EngineCrashedError } from '../../runtime/engine-errors.ts';
import { fromWireError, toWireError, type WireError } from '../../runtime/wire-error.ts';

const MARK = 'xcot-error:';

/** A job's error as BullMQ keeps it (its failedReason), with the class and code the gateway rebuilds. */
export function encodeFailure(err: unknown): string {
  return MARK + JSON.stringify(toWireError(err));
}

/**
 * The error a worker failed a job with. BullMQ's own reasons: a job whose workers kept dying under it
 * (stalled too often) is a crash the user can retry; anything else a plain Error.
 */
export function decodeFailure(reason: string | undefined): Error {
  if (reason?.startsWith(MARK)) {
    try {
      return fromWireError(JSON.parse(reason.slice(MARK.length)) as WireError);
    } catch {
      // fall through: a reason that is not ours
    }
  }
  if (reason && /stalled/i.test(reason)) return new EngineCrashedError('The model workers kept stopping while making this image; please try again.');
  return new Error(reason || 'The job failed.');
}
