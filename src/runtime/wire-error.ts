import { BundleError, CancelledError, InputError, JobTimeoutError, QueueClosedError, QueueFullError, UserFacingError, type ErrorCode } from '../errors.ts';
import { ImageInputError } from '../images/errors.ts';
import { StoreUnavailableError } from '../store/store-outage.ts';
import { EngineClosedError, EngineCrashedError, EngineStuckError } from './engine-errors.ts';

/**
 * Errors across a worker boundary: an error thrown in an engine or upscale worker thread, or in a model
 * worker process, travels as a WireError and comes back on this side as the same class.
 */

/** A field of a user-facing error besides name, message and code (QueueFullError.limit, ...), as it travels. */
export type WireField = string | number | boolean | null;

/**
 * An error thrown in a worker, as it travels: by structured clone to an engine worker thread, as JSON in a
 * BullMQ job's failedReason from a model worker process (src/jobs/cluster/failure-wire.ts). The form only
 * has to agree within one process version, but fromWireError reads the older one (no classes, no fields).
 */
export type WireError =
  | {
      /** A UserFacingError (or subclass) in the worker. */
      userFacing: true;
      name: string;
      message: string;
      code: ErrorCode;
      /** Its class and the classes above it, up to UserFacingError: the first one registered is rebuilt. */
      classes: string[];
      /** Its own enumerable fields with plain values, besides name, message, code and stack. */
      fields: Record<string, WireField>;
      stack?: string;
    }
  | {
      userFacing: false;
      name: string;
      message: string;
      /** Node's, the system's or a library's code ('ERR_OUT_OF_RANGE', 'ENOSPC'): not one of ours. */
      code?: string;
      stack?: string;
    };

/** Own properties that are not fields: the Error's own, and those the wire form carries already. */
const NOT_FIELDS = new Set(['name', 'message', 'code', 'stack', 'cause']);

export function toWireError(err: unknown): WireError {
  if (err instanceof UserFacingError) {
    const classes: string[] = [];
    for (let proto: object | null = Object.getPrototypeOf(err); proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
      classes.push((proto as { constructor: { name: string } }).constructor.name);
    }
    const fields: Record<string, WireField> = {};
    for (const [key, value] of Object.entries(err)) {
      if (NOT_FIELDS.has(key)) continue;
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
    }
    return { userFacing: true, name: err.name, message: err.message, code: err.code, classes, fields, stack: err.stack };
  }
  if (err instanceof Error) {
    const code: unknown = (err as Error & { code?: unknown }).code;
    return { userFacing: false, name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, stack: err.stack };
  }
  return { userFacing: false, name: 'Error', message: String(err) };
}

/** A user-facing error class, whatever its constructor's parameters. */
export type UserFacingErrorClass = abstract new (...args: never[]) => UserFacingError;

/**
 * The user-facing error classes that cross the worker boundary, each under its class name: each comes back
 * on this side as an instance of the same class (so `instanceof`, `name`, `code`, `message` and its fields
 * all hold). Every UserFacingError subclass in src/ and commands/ is either listed here or in
 * MAIN_THREAD_ERROR_CLASSES: test/wire-errors.test.ts fails for one that is in neither, for a key that is
 * not its class's name, and for a class here that does not round-trip.
 */
export const WORKER_ERROR_CLASSES = {
  UserFacingError,
  InputError,
  ImageInputError,
  BundleError,
  CancelledError,
  EngineCrashedError,
  EngineStuckError,
  EngineClosedError,
  QueueFullError,
  QueueClosedError,
  JobTimeoutError,
  StoreUnavailableError,
} as const satisfies Record<string, UserFacingErrorClass>;

export type WorkerErrorClassName = keyof typeof WORKER_ERROR_CLASSES;

/**
 * User-facing classes thrown only on the main thread, whose modules an engine worker does not load
 * (QuotaExceededError: quota.ts brings in bottleneck and ioredis; ResultTakenError: the cluster runner of
 * the gateway). Should one cross anyway it comes back as its nearest registered class above it (an
 * InputError, a UserFacingError), with its name, code, message and fields.
 */
export const MAIN_THREAD_ERROR_CLASSES: readonly string[] = ['QuotaExceededError', 'ResultTakenError'];

const BY_NAME: ReadonlyMap<string, UserFacingErrorClass> = new Map(Object.entries(WORKER_ERROR_CLASSES));

/** The worker's error as the same class on this side (so `instanceof` and `code` still work). */
export function fromWireError(wire: WireError): Error {
  let err: Error;
  if (wire.userFacing) {
    // `?? `: a form written by an older build (failure-wire.ts keeps it in Redis) had neither list.
    const cls = (wire.classes ?? [wire.name]).map((name) => BY_NAME.get(name)).find((c) => c !== undefined) ?? UserFacingError;
    // Built without running the constructor (whose parameters differ per class), then given its fields.
    err = Reflect.construct(Error, [wire.message], cls) as UserFacingError;
    for (const [key, value] of Object.entries({ ...wire.fields, code: wire.code })) {
      Object.defineProperty(err, key, { value, enumerable: true, writable: true, configurable: true });
    }
    err.name = wire.name;
  } else {
    err = new Error(wire.message);
    err.name = wire.name;
    if (wire.code) (err as Error & { code?: string }).code = wire.code;
  }
  if (wire.stack) err.stack = `${err.stack}\n    --- in the engine worker ---\n${wire.stack}`;
  return err;
}
