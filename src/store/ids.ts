import { randomBytes } from 'node:crypto';

/**
 * A short random id: 9 random bytes as base64url, 12 characters of [A-Za-z0-9_-]. Fits a Discord
 * custom_id (100 characters) with any reasonable prefix, e.g. `reroll:Ab3_x9-QzT0k`.
 */
export function newId(): string {
  return randomBytes(9).toString('base64url');
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Ids we generate or accept from outside (Discord snowflakes, our own ids): no ':' and nothing odd. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id);
}

export function assertId(id: unknown, what: string): asserts id is string {
  if (!isValidId(id)) throw new TypeError(`${what} must be 1-64 characters of [A-Za-z0-9_-], got ${JSON.stringify(id)}`);
}

const SHA256_RE = /^[0-9a-f]{64}$/;

export function isPhotoHash(hash: unknown): hash is string {
  return typeof hash === 'string' && SHA256_RE.test(hash);
}

export const DAY_MS = 24 * 60 * 60 * 1000;
