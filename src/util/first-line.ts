/** The first line of a thrown error's message (or of whatever was thrown), for a one-line report; at most `maxChars`. */
export function firstLine(err: unknown, maxChars = Infinity): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, maxChars);
}
