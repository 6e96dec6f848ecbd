import { UserFacingError } from '../errors.ts';

/** How an engine call can fail for reasons of the engine itself (its worker threads), not of the request. */

/**
 * The engine could not finish this request: its worker died (native error, out of memory,
 * killed) or could not be restarted. The worker is restarted; trying again is the fix.
 */
export class EngineCrashedError extends UserFacingError {
  declare readonly code: 'engine_crashed';

  constructor(message = 'The image engine crashed while making this image; please try again.') {
    super('engine_crashed', message);
  }
}

/**
 * The request's worker stopped answering (a run that never returns, or one that ignored its cancel):
 * the worker was replaced, and what it was doing is lost. Trying again is the fix.
 */
export class EngineStuckError extends UserFacingError {
  declare readonly code: 'engine_stuck';

  constructor(message = 'The image engine stopped responding while making this image and was restarted; please try again.') {
    super('engine_stuck', message);
  }
}

/** The engine was closed (shutdown) before or while the request ran. */
export class EngineClosedError extends UserFacingError {
  declare readonly code: 'engine_closed';

  constructor(message = 'The image engine is shutting down; please try again in a minute.') {
    super('engine_closed', message);
  }
}
