/**
 * Errors whose message is meant for the person who caused them: one short line, no stack.
 * Anything else that escapes is a bug and is reported as such.
 */
export class UserFacingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input from a user: prompt, option, image. */
export class InputError extends UserFacingError {}

/** A model bundle that is missing, incomplete or does not match the contract. */
export class BundleError extends UserFacingError {}

/** The job was cancelled by its owner or by shutdown. */
export class CancelledError extends UserFacingError {
  constructor(message = 'Cancelled.') {
    super('cancelled', message);
  }
}
