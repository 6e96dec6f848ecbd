/**
 * What the bot says at start about ranking groups of candidates: once, when no scorer is
 * configured (groups are then shown unranked); nothing when one is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import type { GatewayConfig } from '../src/app/config.ts';
import { createLogger } from '../src/util/logger.ts';
import { startBotDeps } from '../src/app/gateway.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  removeTinyBundles();
});

async function startupLines(config: Partial<GatewayConfig>): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xcot-startup-'));
  dirs.push(dataDir);
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).trim().split('\n')), done()) });
  const deps = await startBotDeps(
    {
      token: 't', clientId: '1100000000000000009', modelDir: tinyBundle(1), dataDir, device: 'cpu', modelSlots: 1, batchJobs: 1,
      prefixCacheMb: 16, visionCacheMb: 16, maxWaitingPerUser: 2, maxJobsPerGuild: 10, maxQueueLength: 10, maxRunMs: 60_000,
      engineStallMs: 60_000, maxSubjectPhotos: 4, maxPhotoBytes: 2 ** 20, logLevel: 'info', messageContent: true, scorer: 'none', ...config,
    },
    createLogger('info', sink),
  );
  await deps.close();
  return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
}

test('without a scorer the start says once that groups are unranked; with one it does not', async () => {
  const unranked = (msgs: string[]) => msgs.filter((m) => /groups of candidates are shown unranked/.test(m)).length;
  assert.equal(unranked(await startupLines({ scorer: 'none' })), 1);
  assert.equal(unranked(await startupLines({ scorer: 'self' })), 0);
});
