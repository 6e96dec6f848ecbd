import { DEFAULT_IMAGE_LIMITS } from '../images/limits.ts';

/**
 * A saved subject: a name, an optional context and 1-4 reference photos, owned by one user and
 * optionally shared in one server (SubjectStore keeps them).
 */

export interface Subject {
  id: string;
  ownerId: string;
  /** Where it was saved (null: in DMs). */
  guildId: string | null;
  name: string;
  context?: string;
  /** sha256 of the normalized photos, 1 to 4, in upload order, no duplicates. */
  photoHashes: string[];
  /** The one server it is shared in, or null. */
  sharedIn: string | null;
  createdAt: number;
  updatedAt: number;
}

export const SUBJECT_MAX_PHOTOS = DEFAULT_IMAGE_LIMITS.maxImages;
export const DEFAULT_MAX_SUBJECTS_PER_USER = 20;

export type SubjectPhotoBytes = Uint8Array | { bytes: Uint8Array; name?: string };

export interface SaveSubjectInput {
  ownerId: string;
  guildId: string | null;
  name: string;
  photos: readonly SubjectPhotoBytes[];
  context?: string;
}
