import { charCount, truncateChars } from '../util/text-length.ts';

/** Discord's limit on a message's content, in characters as it counts them (code points). */
export const MESSAGE_MAX_CHARS = 2000;
/** Room kept for the closing "…and N more." line. */
const MORE_LINE_ROOM = 30;

/**
 * Lines joined by newlines in at most `max` characters. Lines that do not fit are left out and said
 * as "…and N more." (N counting the "• " items among them); a first line alone too long is cut.
 */
export function fitLines(lines: readonly string[], max = MESSAGE_MAX_CHARS): string {
  const out: string[] = [];
  let used = 0;
  for (const [i, line] of lines.entries()) {
    const room = i < lines.length - 1 ? MORE_LINE_ROOM : 0;
    const size = charCount(line) + (out.length ? 1 : 0);
    if (used + size + room <= max) {
      out.push(line);
      used += size;
      continue;
    }
    if (out.length === 0) {
      out.push(truncateChars(line, max - room));
      used = charCount(out[0]);
      continue;
    }
    const more = lines.slice(i).filter((l) => l.startsWith('• ')).length;
    out.push(more ? `…and ${more} more.` : '…');
    break;
  }
  return out.join('\n');
}

/** Items joined by ", " in at most `max` characters, "and N more" closing a shortened list. */
export function listWithin(items: readonly string[], max: number): string {
  let out = '';
  for (const [i, item] of items.entries()) {
    const next = out ? `${out}, ${item}` : item;
    const left = items.length - i - 1;
    const closing = left ? ` and ${left} more`.length + 2 : 0;
    if (charCount(next) + closing > max) return out ? `${out} and ${items.length - i} more` : `${items.length} items`;
    out = next;
  }
  return out;
}
