import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

// README "Layout": each folder is one layer and imports only the layers below it; the modules beside
// the layers never import a layer. Entry points and tools (src/main.ts, src/worker-main.ts, src/cli,
// src/sandbox, src/local-discord, src/generator, src/feedback) may import anything.

const REPO = resolve(new URL('..', import.meta.url).pathname);

/** Higher imports lower. */
const LAYERS: Record<string, number> = {
  commands: 6,
  'src/bot': 6,
  'src/jobs': 5,
  'src/runtime': 4,
  'src/pipeline': 3,
  'src/decoding': 2,
  'src/model': 1,
  'src/bundle': 0,
};
const BESIDE = ['src/store', 'src/scoring', 'src/upscaling', 'src/images', 'src/util', 'src/errors.ts', 'src/request-options.ts', 'src/model-env.ts'];

function filesUnder(dir: string): string[] {
  return readdirSync(join(REPO, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(REPO, path)).isDirectory()) return filesUnder(path);
    return /\.(ts|mjs)$/.test(name) ? [path] : [];
  });
}

/** The part of the tree a repo-relative path belongs to: a layer, a module beside them, or undefined. */
function partOf(path: string): string | undefined {
  return [...Object.keys(LAYERS), ...BESIDE].find((p) => path === p || path.startsWith(`${p}/`));
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(REPO, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((spec) => relative(REPO, resolve(REPO, dirname(file), spec)));
}

test('no module of a layer imports a layer above it, and the modules beside the layers import no layer', () => {
  const wrong: string[] = [];
  for (const part of [...Object.keys(LAYERS), ...BESIDE]) {
    const files = part.endsWith('.ts') ? [part] : filesUnder(part);
    for (const file of files) {
      for (const target of importsOf(file)) {
        const to = partOf(target);
        if (!to || to === part) continue;
        const from = partOf(file)!;
        if (from in LAYERS && to in LAYERS && LAYERS[to] > LAYERS[from]) wrong.push(`${file} -> ${target} (up from ${from} to ${to})`);
        if (BESIDE.includes(from) && to in LAYERS) wrong.push(`${file} -> ${target} (a module beside the layers imports ${to})`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test('the layer check sees an upward import when one is there (its import reader is not blind)', () => {
  // src/bot/bot-deps.ts imports src/jobs (a layer below): seen as an import into that layer.
  const targets = importsOf('src/bot/bot-deps.ts').map(partOf);
  assert.ok(targets.includes('src/jobs'), `imports read: ${targets.join(', ')}`);
});
