import { InputError, type ImageErrorCode } from '../errors.ts';
import { truncateChars } from '../util/text-length.ts';

export type { ImageErrorCode };

/** A problem with an image a user supplied. `message` is one short line that is safe to show them. */
export class ImageInputError extends InputError {
  declare readonly code: ImageErrorCode;

  constructor(code: ImageErrorCode, message: string) {
    super(code, message);
  }
}

/** A file name fit for a one-line message: no control characters, bounded length. */
export function displayName(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  const clean = (name ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  if (!clean) return 'That file';
  return truncateChars(clean, 80);
}
