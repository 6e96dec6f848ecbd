import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_DIMS } from '../../src/generator/dims.ts';
import { makeBundle, type MakeBundleOptions } from '../../src/generator/make-bundle.ts';

/**
 * The language model's attention forms a fixture can have: ours, and onnxruntime-genai builder's
 * three (mha: web; gqa: packed q/k/v, cpu/cuda; gqa-separate: RotaryEmbedding and position_ids, dml).
 */
export type AttentionForm = NonNullable<MakeBundleOptions['attention']>;
export const ATTENTION_FORMS: AttentionForm[] = ['concat', 'mha', 'gqa', 'gqa-separate'];

/** Fixture choices beside the attention form and variants (defaults: template writes BOS, accuracy level 4). */
export type FixtureOptions = Pick<MakeBundleOptions, 'templateBos' | 'accuracyLevel'>;

/**
 * Fixture bundles for tests, generated at test time into one temp folder per test process.
 * tinyBundle(seed) makes the bundle once per seed and returns the same folder after that: treat it
 * as read-only. Tests that damage a bundle take a private copy with copyTinyBundle.
 * Call removeTinyBundles() in after().
 */

let root: string | null = null;
const bySeed = new Map<string, string>();
let copies = 0;

function tempRoot(): string {
  root ??= mkdtempSync(join(tmpdir(), 'xcot-tiny-bundles-'));
  return root;
}

/**
 * A tiny bundle for `seed` whose language model has the given attention form, at
 * <root>/tiny-<seed>[-<form>][-<variants>] (its parent holds nothing else that is shared). For one
 * seed every form and variant holds the same weights.
 */
export function tinyBundle(seed = 1, attention: AttentionForm = 'concat', variants: MakeBundleOptions['variants'] = ['fp32'], options: FixtureOptions = {}): string {
  const key = [
    seed, ...(attention === 'concat' ? [] : [attention]), ...(variants.join() === 'fp32' ? [] : variants),
    ...(options.templateBos === false ? ['nobos'] : []), ...(options.accuracyLevel === undefined || options.accuracyLevel === 4 ? [] : [`acc${options.accuracyLevel}`]),
  ].join('-');
  let dir = bySeed.get(key);
  if (!dir) {
    dir = join(tempRoot(), `tiny-${key}`);
    makeBundle({ out: dir, seed, dims: TINY_DIMS, attention, variants, ...options });
    bySeed.set(key, dir);
  }
  return dir;
}

/** A fresh folder under the shared temp root, e.g. for a second generation to compare against. */
export function scratchDir(label: string): string {
  return join(tempRoot(), `${label}-${++copies}`);
}

/** A private copy of the seed's bundle that a test may change. */
export function copyTinyBundle(seed = 1, attention: AttentionForm = 'concat'): string {
  const dir = scratchDir(`copy-${seed}-${attention}`);
  cpSync(tinyBundle(seed, attention), dir, { recursive: true });
  return dir;
}

export function removeTinyBundles(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
  bySeed.clear();
}
