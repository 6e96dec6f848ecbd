import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_DIMS } from '../../src/generator/dims.ts';
import { makeBundle } from '../../src/generator/make-bundle.ts';

/**
 * Fixture bundles for tests, generated at test time into one temp folder per test process.
 * tinyBundle(seed) makes the bundle once per seed and returns the same folder after that: treat it
 * as read-only. Tests that damage a bundle take a private copy with copyTinyBundle.
 * Call removeTinyBundles() in after().
 */

let root: string | null = null;
const bySeed = new Map<number, string>();
let copies = 0;

function tempRoot(): string {
  root ??= mkdtempSync(join(tmpdir(), 'xcot-tiny-bundles-'));
  return root;
}

/** A tiny bundle for `seed`, at <root>/tiny-<seed> (its parent holds nothing else that is shared). */
export function tinyBundle(seed = 1): string {
  let dir = bySeed.get(seed);
  if (!dir) {
    dir = join(tempRoot(), `tiny-${seed}`);
    makeBundle({ out: dir, seed, dims: TINY_DIMS });
    bySeed.set(seed, dir);
  }
  return dir;
}

/** A fresh folder under the shared temp root, e.g. for a second generation to compare against. */
export function scratchDir(label: string): string {
  return join(tempRoot(), `${label}-${++copies}`);
}

/** A private copy of the seed's bundle that a test may change. */
export function copyTinyBundle(seed = 1): string {
  const dir = scratchDir(`copy-${seed}`);
  cpSync(tinyBundle(seed), dir, { recursive: true });
  return dir;
}

export function removeTinyBundles(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
  bySeed.clear();
}
