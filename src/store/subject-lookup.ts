import { InputError } from '../errors.ts';
// Names in these messages are users' text, shown in Discord: escaped so they show literally.
import { safeText } from '../util/safe-text.ts';
import { truncateChars } from '../util/text-length.ts';
import { assertId, isValidId } from './ids.ts';
import { fold } from './subject-names.ts';
import { visibleTo } from './subject-access.ts';
import type { Subject } from './subject.ts';

/** The reads a lookup needs: a record by id, a user's own subjects, those shared in a server. */
export interface SubjectReads {
  byId(id: string): Promise<Subject | undefined>;
  own(userId: string): Promise<Subject[]>;
  shared(guildId: string): Promise<Subject[]>;
}

/**
 * The subject `idOrName` means to `userId` in `guildId`: by id (what autocomplete sends) when visible,
 * else by name (what someone types; case-insensitive, own subjects first, then one shared here).
 * Throws InputError when there is none or the name is ambiguous.
 */
export async function findSubject(userId: string, guildId: string | null, idOrName: string, read: SubjectReads): Promise<Subject> {
  assertId(userId, 'userId');
  if (guildId !== null) assertId(guildId, 'guildId');
  const query = typeof idOrName === 'string' ? idOrName.replace(/\s+/gu, ' ').trim() : '';
  if (!query) throw new InputError('subject_not_found', 'Which subject? Give its name.');
  if (isValidId(query)) {
    const byId = await read.byId(query);
    if (byId && visibleTo(byId, userId, guildId)) return byId;
  }
  const q = fold(query);
  const own = (await read.own(userId)).find((s) => fold(s.name) === q);
  if (own) return own;
  if (guildId !== null) {
    const shared = (await read.shared(guildId)).filter((s) => s.ownerId !== userId && fold(s.name) === q);
    if (shared.length === 1) return shared[0];
    if (shared.length > 1) {
      throw new InputError('subject_ambiguous', `Several subjects named “${safeText(shared[0].name)}” are shared here; pick one from the list.`);
    }
  }
  if (isValidId(query) && query.length === 12) {
    // An autocomplete value (an id) that no longer resolves: never echo the raw id.
    throw new InputError('subject_not_found', 'That subject was deleted or is not shared in this server; pick one from the list.');
  }
  throw new InputError('subject_not_found', `You have no subject named “${safeText(truncateChars(query, 40))}”.`);
}
