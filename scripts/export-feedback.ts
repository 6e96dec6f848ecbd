import { renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { exportFeedbackGroups } from '../src/feedback/export-groups.ts';
import { openStores } from '../src/store/index.ts';

const USAGE = `Usage: npm run export-feedback -- --out FILE.jsonl [--since DATE] [--data DIR | --redis URL]
Writes every stored group of candidates from servers that collect feedback as one JSON object per
line (schema "xcot-feedback", see README "Feedback as training data"). The store is the bot's:
--data (DATA_DIR, default data) or --redis (REDIS_URL).`;

async function main(argv: string[]): Promise<number> {
  let values: { out?: string; since?: string; data?: string; redis?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, since: { type: 'string' }, data: { type: 'string' }, redis: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    return usage((err as Error).message.split('\n')[0]);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.out) return usage('give --out FILE.jsonl');
  let since: number | undefined;
  if (values.since !== undefined) {
    since = Date.parse(values.since);
    if (Number.isNaN(since)) return usage('--since must be a date, e.g. 2026-11-01 or 2026-11-01T12:00:00Z');
  }
  if (values.data && values.redis) return usage('give --data or --redis, not both');
  const redisUrl = values.redis ?? (values.data ? undefined : process.env.REDIS_URL || undefined);
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) return usage('--redis must start with redis:// or rediss://');
  const stores = await openStores({ dataDir: values.data ?? process.env.DATA_DIR ?? 'data', redisUrl });
  try {
    const lines: string[] = [];
    for await (const group of exportFeedbackGroups(stores, { since })) lines.push(JSON.stringify(group));
    // Written whole and renamed, so a reader never sees half a file.
    const tmp = `${values.out}.tmp-${process.pid}`;
    writeFileSync(tmp, lines.map((l) => `${l}\n`).join(''));
    renameSync(tmp, values.out);
    process.stderr.write(`wrote ${lines.length} group${lines.length === 1 ? '' : 's'} to ${values.out}\n`);
    return 0;
  } finally {
    await stores.close();
  }
}

function usage(problem: string): number {
  process.stderr.write(`export-feedback: ${problem}\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`export-feedback: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    process.exitCode = 1;
  },
);
