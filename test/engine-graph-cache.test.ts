import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WorkerEngine } from '../src/runtime/worker-engine.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

// The configuration's XCOT_GRAPH_CACHE reaches the engine's worker threads as an option, not only through their environment.
const cacheDir = mkdtempSync(join(tmpdir(), 'xcot-engine-graph-cache-'));
after(() => {
  rmSync(cacheDir, { recursive: true, force: true });
  removeTinyBundles();
});

test("a WorkerEngine given graphCacheDir keeps the language model's load-time rewrite in that folder, not in the environment's", async () => {
  const before = new Set(readdirSync(process.env.XCOT_GRAPH_CACHE!));
  const engine = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1, graphCacheDir: cacheDir });
  await engine.close();
  assert.ok(readdirSync(cacheDir).length > 0, 'the rewrite is in the given folder');
  assert.deepEqual(readdirSync(process.env.XCOT_GRAPH_CACHE!).filter((name) => !before.has(name)), [], "nothing new in the environment's folder");
});
