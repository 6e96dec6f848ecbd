import { InputError } from '../errors.ts';
import type { Subject } from './subject.ts';

/**
 * Who may see and change a subject.
 *
 * Visibility: a user sees their own subjects everywhere, plus the subjects shared in the server they are
 * in right now (never those shared in another server; in DMs only their own).
 * Permissions: rename / share / edit context: owner only. Unshare: owner, or a member with Manage Server in
 * the server where it is shared. Delete: the same two.
 */

export function visibleTo(subject: Subject, userId: string, guildId: string | null): boolean {
  return subject.ownerId === userId || (guildId !== null && subject.sharedIn === guildId);
}

/** Owner-only changes. */
export function checkOwner(subject: Subject, userId: string): void {
  if (subject.ownerId !== userId) throw notOwner();
}

/** Unshare and delete: the owner, or a member with Manage Server where the subject is shared. */
export function checkModerate(subject: Subject, userId: string, guildId: string | null, canManageGuild: boolean): void {
  if (subject.ownerId === userId) return;
  if (canManageGuild && guildId !== null && subject.sharedIn === guildId) return;
  throw notOwner();
}

function notOwner(): InputError {
  return new InputError('subject_not_owner', 'That subject belongs to someone else.');
}
