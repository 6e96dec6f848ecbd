import { truncateChars } from '../util/text-length.ts';
import { compareNames, fold } from './subject-names.ts';

/** Discord's limit on autocomplete choices, and on a choice's name. */
export const MAX_SUGGESTIONS = 25;
export const SUGGESTION_NAME_MAX = 100;

export interface Suggestion {
  name: string;
  value: string;
}

interface Suggestible {
  id: string;
  name: string;
  ownerId: string;
}

/**
 * Autocomplete choices: at most 25, the user's own subjects before those others shared, names starting
 * with the query before names containing it, then by name. A shared one is labelled with its owner.
 */
export function rankSuggestions(
  own: readonly Suggestible[],
  shared: readonly Suggestible[],
  query: string,
  ownerLabel?: (ownerId: string) => string | undefined,
): Suggestion[] {
  const q = fold(query.replace(/\s+/gu, ' ').trim());
  const ranked: { s: Suggestible; group: number; score: number }[] = [];
  for (const [group, list] of [own, shared].entries()) {
    for (const s of list) {
      const f = fold(s.name);
      const score = q === '' || f.startsWith(q) ? 0 : f.includes(q) ? 1 : -1;
      if (score >= 0) ranked.push({ s, group, score });
    }
  }
  ranked.sort((a, b) => a.group - b.group || a.score - b.score || compareNames(a.s.name, b.s.name));
  return ranked.slice(0, MAX_SUGGESTIONS).map(({ s, group }) => {
    const by = group === 1 ? ownerLabel?.(s.ownerId) : undefined;
    const label = group === 0 ? s.name : by ? `${s.name} (shared by ${by})` : `${s.name} (shared)`;
    return { name: truncateChars(label, SUGGESTION_NAME_MAX), value: s.id };
  });
}
