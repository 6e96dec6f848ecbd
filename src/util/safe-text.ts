import { escapeMarkdown } from 'discord.js';
import { charCount, graphemesOf, truncateChars } from './text-length.ts';

/**
 * User text the bot echoes (prompts, names, contexts, refinement text, subject names, grounding text
 * that repeats them) made safe for a Discord message or embed: every markdown construct shows
 * literally. Mentions are not pinged anyway (allowedMentions); this stops them rendering too.
 *
 * How: first undo any escapes already in the text (a backslash before ASCII punctuation), then escape
 * every backslash and put one before each character that would start a construct. The second step
 * only ever adds a backslash before punctuation, so the first step undoes it exactly, and escaping an
 * escaped string gives the same string: text is never escaped twice, however many layers pass it on.
 * (The price: a backslash the user typed before punctuation is read as an escape and shows as one,
 * `\*` as `*`, just as Discord shows it.)
 *
 * Not for plain-text fields (thread names, autocomplete choices, modal defaults, button labels):
 * Discord shows those verbatim, so a backslash would show. Use plainText there.
 */
export function safeText(text: string, options: { max?: number } = {}): string {
  const raw = unescape(String(text ?? ''));
  const escaped = escapeAll(raw);
  const max = options.max;
  if (max === undefined || charCount(escaped) <= max) return escaped;
  if (max < 1) return '';
  // The most grapheme clusters of the raw text whose escaped form leaves room for the ellipsis, in
  // characters as Discord counts them. Cutting the raw text (not the escaped one) on cluster
  // boundaries never leaves half an escape, half a surrogate pair or half an emoji behind.
  const clusters = graphemesOf(raw);
  let lo = 0;
  let hi = clusters.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (charCount(escapeAll(clusters.slice(0, mid).join(''))) + 1 <= max) lo = mid;
    else hi = mid - 1;
  }
  return `${escapeAll(clusters.slice(0, lo).join('').trimEnd())}…`;
}

/**
 * User text for fields Discord shows without markdown (thread names, autocomplete choice names):
 * whitespace collapsed to single spaces, at most `max` characters as Discord counts them (cut on a
 * grapheme boundary), `fallback` when nothing is left.
 */
export function plainText(text: string, max: number, fallback = ''): string {
  return truncateChars(String(text ?? '').replace(/\s+/gu, ' ').trim() || fallback, max);
}

/** Removes the backslash of every `\X` where X is ASCII punctuation (what Discord reads as an escape). */
function unescape(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

function escapeAll(text: string): string {
  // discord.js covers backslashes, code (inline and blocks), bold, italics, underline, strikethrough,
  // spoilers, `#` headings and both kinds of lists. Its masked-link escape only guards the first `[`
  // of a line (`[a [b](c)` would still link), so every `[` is escaped here instead.
  let out = escapeMarkdown(text, { heading: true, bulletedList: true, numberedList: true, maskedLink: false });
  out = out
    // Masked links `[text](url)`: no link can start at an escaped bracket.
    .replace(/\[/g, '\\[')
    // Subtext `-# small` and headings with more leading space or `#`s than discord.js looks for.
    .replace(/^([ \t]*)(-?)(?=#+[ \t])/gm, (_, space: string, dash: string) => (dash ? `${space}\\-` : `${space}\\`))
    // Block quotes `> x` and `>>> x`.
    .replace(/^([ \t]*)>/gm, '$1\\>')
    // `+ item` lists and `1) item` lists.
    .replace(/^([ \t]*)\+(?=[ \t])/gm, '$1\\+')
    .replace(/^([ \t]*\d+)\)(?=[ \t])/gm, '$1\\)')
    // `<t:1700000000:R>` timestamps, `<@id>` `<#id>` `<@&id>` mentions, `</cmd:id>`, `<:emoji:id>`, `<https://…>`.
    .replace(/<(?=[^<>\n]*>)/g, '\\<');
  return out;
}
