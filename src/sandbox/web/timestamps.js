// Discord's <t:N:S> timestamps in the reader's own locale and time zone, as its client shows them.
export const TIMESTAMP_STYLES = ['t', 'T', 'd', 'D', 'f', 'F', 'R'];

const FORMATS = {
  t: { hour: 'numeric', minute: '2-digit' },
  T: { hour: 'numeric', minute: '2-digit', second: '2-digit' },
  d: { year: 'numeric', month: '2-digit', day: '2-digit' },
  D: { dateStyle: 'long' },
  f: { dateStyle: 'long', timeStyle: 'short' },
  F: { dateStyle: 'full', timeStyle: 'short' },
};

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

export function formatTimestamp(seconds, style, nowMs = Date.now()) {
  if (style === 'R') return relative(seconds - nowMs / 1000);
  return new Intl.DateTimeFormat(undefined, FORMATS[style]).format(new Date(seconds * 1000));
}

/** "in 3 minutes", "2 hours ago"; under 45 s Discord says "in a few seconds" / "a few seconds ago". */
function relative(deltaSeconds) {
  const size = Math.abs(deltaSeconds);
  if (size < 45) return deltaSeconds >= 0 ? 'in a few seconds' : 'a few seconds ago';
  const [unit, length] = UNITS.find(([, s]) => size >= s * 0.9 || s === 1);
  const count = Math.max(1, Math.round(size / length));
  return new Intl.RelativeTimeFormat(undefined, { numeric: 'always' }).format(deltaSeconds >= 0 ? count : -count, unit);
}

/** Keeps every relative timestamp under `root` current, as Discord's client does. */
export function keepRelativeTimesLive(root, everyMs = 1000) {
  return setInterval(() => {
    for (const node of root.querySelectorAll('time.timestamp[data-style="R"]')) {
      const text = formatTimestamp(Number(node.dataset.seconds), 'R');
      if (node.textContent !== text) node.textContent = text;
    }
  }, everyMs);
}
