import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Loaded with --import by the test scripts: every test process keeps the engine's rewritten
 * language models (see planKvAppend) in a temp folder of its own, removed when it exits, instead
 * of the user's ~/.cache. Worker threads and child processes inherit the variable.
 */
if (!process.env.XCOT_GRAPH_CACHE) {
  const dir = mkdtempSync(join(tmpdir(), 'xcot-graph-cache-'));
  process.env.XCOT_GRAPH_CACHE = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}
