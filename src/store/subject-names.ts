import { InputError } from '../errors.ts';
import { CONTEXT_MAX_CHARS } from '../request-options.ts';
import { isBlankText, nameSkeleton } from '../util/visible-text.ts';
// Names in these messages are users' text, shown in Discord: escaped so they show literally.
import { safeText } from '../util/safe-text.ts';
import { charCount } from '../util/text-length.ts';

/** What a subject's name may be, how names compare, and when two are too alike to share one list. */

export const SUBJECT_NAME_MAX_CHARS = 32;
export const SUBJECT_CONTEXT_MAX_CHARS = CONTEXT_MAX_CHARS;

/** Case- and width-insensitive form used for uniqueness and lookups. */
export function fold(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

// Control, format (except the zero-width joiner of emoji sequences), private use, unassigned, separators.
const BAD_NAME_CHARS = /[\p{Cc}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?!\u200d)\p{Cf}/u;

/** Trims, collapses whitespace and checks a subject name. Throws InputError. */
export function cleanName(raw: unknown): string {
  const name = typeof raw === 'string' ? raw.normalize('NFC').replace(/\s+/gu, ' ').trim() : '';
  if (!name) throw new InputError('subject_name', 'The subject needs a name.');
  if (charCount(name) > SUBJECT_NAME_MAX_CHARS) {
    throw new InputError('subject_name', `The name is longer than ${SUBJECT_NAME_MAX_CHARS} characters.`);
  }
  if (BAD_NAME_CHARS.test(name) || !/[\p{L}\p{N}\p{S}\p{P}]/u.test(name)) {
    throw new InputError('subject_name', 'The name contains characters that cannot be shown.');
  }
  // Hangul fillers, the blank braille pattern and the like are letters or symbols that show nothing.
  if (isBlankText(name)) throw new InputError('subject_name', 'The name has no visible characters.');
  return name;
}

/** Trims a context; blank means none. Throws InputError when too long. */
export function cleanContext(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  const context = String(raw).replace(/\r\n?/g, '\n').trim();
  if (!context) return undefined;
  if (charCount(context) > SUBJECT_CONTEXT_MAX_CHARS) {
    throw new InputError('subject_context', `The context is longer than ${SUBJECT_CONTEXT_MAX_CHARS} characters.`);
  }
  return context;
}

/** An own name that is the same (fold) or looks the same (confusable skeleton) as `name`: InputError. */
export function checkOwnNameFree(own: readonly { id: string; name: string }[], name: string, exceptId?: string): void {
  const others = own.filter((s) => s.id !== exceptId);
  const same = others.find((s) => fold(s.name) === fold(name));
  if (same) throw nameTaken(same.name);
  const skeleton = nameSkeleton(name);
  const alike = others.find((s) => nameSkeleton(s.name) === skeleton);
  if (alike) throw lookalike(alike.name, 'is already one of your subjects');
}

/** A name the subject would bring to a server's shared list: refused when one there is the same or looks the same. */
export function checkSharedNameFree(shared: readonly { id: string; name: string }[], name: string, exceptId: string): void {
  const skeleton = nameSkeleton(name);
  const clash = shared.find((s) => s.id !== exceptId && nameSkeleton(s.name) === skeleton);
  if (clash && fold(clash.name) !== fold(name)) throw lookalike(clash.name, 'is already shared in this server');
  if (clash) {
    throw new InputError(
      'subject_shared_name_taken',
      `Another subject named “${safeText(clash.name)}” is already shared in this server; rename yours first.`,
    );
  }
}

/**
 * A new name must not look like (same confusable skeleton, other spelling) the name of a subject
 * someone else shares in the server it is given in: members could not tell the two apart. The very
 * same name stays allowed (the owner's own wins for them) and is refused only when shared (above).
 */
export function checkNoLookalike(shared: readonly { ownerId: string; name: string }[], ownerId: string, name: string): void {
  const skeleton = nameSkeleton(name);
  const clash = shared.find((s) => s.ownerId !== ownerId && fold(s.name) !== fold(name) && nameSkeleton(s.name) === skeleton);
  if (clash) throw lookalike(clash.name, 'is shared in this server');
}

export function lookalike(existing: string, where: string): InputError {
  return new InputError('subject_name_lookalike', `That name looks the same as “${safeText(existing)}”, which ${where}; choose one that is easy to tell apart.`);
}

export function nameTaken(existing: string): InputError {
  return new InputError('subject_name_taken', `You already have a subject named “${safeText(existing)}”.`);
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

/** Names in the order people expect (case-insensitive, numbers by value), ties broken exactly. */
export function compareNames(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function sortByName<T extends { name: string; createdAt: number }>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => compareNames(a.name, b.name) || a.createdAt - b.createdAt);
}

