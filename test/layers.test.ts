import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileCycles, partCycles, partOf, readGraph, undeclared, wrongImports, type LayerRules } from './helpers/import-graph.ts';

// README "Layout". Every folder and loose file of src/ and commands/ is one declared part.

const REPO = resolve(new URL('..', import.meta.url).pathname);

const SHARED = ['src/errors.ts', 'src/util', 'src/request-options.ts', 'src/model-kinds.ts', 'src/images', 'src/scoring', 'src/upscaling', 'src/store'];

const BOT_PARTS = ['src/bot/delivery', 'src/bot/status', 'src/bot/custom-ids.ts', 'src/bot/reply-errors.ts', 'src/bot/retry.ts'];

const BELOW_JOBS = ['src/runtime', 'src/pipeline', 'src/decoding', 'src/model', 'src/bundle'];

// Queue backends: each a folder implementing src/jobs' QueueView and JobRunner, built by a composition root.
const BACKENDS = ['src/jobs/in-process', 'src/jobs/cluster'];

const RULES: LayerRules = {
  roots: ['src', 'commands'],
  // src/bot's lower parts: delivery/ posts results, status/ keeps a job's status message, and three
  // leaf modules say what every part of the gateway says (component ids, error lines, Discord retries).
  stack: ['commands', 'src/bot', ...BOT_PARTS, 'src/jobs', ...BELOW_JOBS],
  shared: SHARED,
  outside: {
    // The composition roots: each process's parts built from every layer (and the sandbox's tools); only entry points import them.
    'src/app': ['commands', 'src/bot', 'src/jobs', ...BACKENDS, ...BELOW_JOBS, 'src/local-discord', 'src/sandbox', ...SHARED],
    // A backend sees what src/jobs sees and src/jobs itself; no layer imports a backend, nor one backend another.
    ...Object.fromEntries(BACKENDS.map((backend) => [backend, ['src/jobs', ...BELOW_JOBS, ...SHARED]])),
    // Entry points: read the configuration and start a root.
    'src/main.ts': ['src/app', ...SHARED],
    'src/worker-main.ts': ['src/app', ...SHARED],
    'src/cli': ['src/pipeline', 'src/decoding', 'src/model', 'src/bundle', ...SHARED],
    'src/sandbox': ['src/local-discord', 'src/generator', ...SHARED],
    // Tools: the local Discord knows nothing of the bot; the fixture generator writes the model's file form.
    'src/local-discord': [],
    'src/generator': ['src/model', 'src/bundle', 'src/util'],
    'src/feedback': ['src/store', 'src/request-options.ts'],
  },
};

/** Import cycles allowed between files: none (the list stays, so a test can say what it allows). */
const KNOWN_CYCLES: string[][] = [];

test('every folder and loose source file of src/ and commands/ is a declared layer, shared part or tool', () => {
  assert.deepEqual(undeclared(REPO, RULES), []);
});

test('every import of src/ and commands/ points down the stack, to a shared part below, or where its tool may look', () => {
  assert.deepEqual(wrongImports(readGraph(REPO, RULES), RULES), []);
});

test('no import cycle between parts, and none between files', () => {
  const graph = readGraph(REPO, RULES);
  assert.deepEqual(partCycles(graph, RULES), []);
  const sorted = (list: string[][]) => list.map((c) => c.join(' <-> ')).sort();
  assert.deepEqual(sorted(fileCycles(graph)), sorted(KNOWN_CYCLES));
});

test('the import reader sees static, type-only, re-exported, dynamic and import.meta.url references', () => {
  const graph = readGraph(REPO, RULES);
  assert.ok(graph.edges.get('src/bot/bot-deps.ts')!.some((t) => partOf(RULES, t) === 'src/jobs'));
  assert.ok(graph.edges.get('src/runtime/engine-threads.ts')!.includes('src/runtime/bootstrap.mjs'));
  assert.ok(graph.edges.get('src/runtime/bootstrap.mjs')!.includes('src/runtime/engine-thread-main.ts'));
});

test('the checks fail on a made-up tree with an upward import (also from a layer inside another), a sideways tool import, a cycle and a stray folder', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'src/high/a.ts': "import { b } from './b.ts';\nexport const a = b;\n",
    'src/high/b.ts': "import type { a } from './a.ts';\nimport '../low/d.ts';\nexport const b = 1;\n",
    'src/low/c.ts': "export { a } from '../high/a.ts';\n",
    'src/tool/t.ts': "const m = await import('../high/b.ts');\n",
    'src/stray/s.ts': "import '../low/c.ts';\n",
    'src/low/d.ts': "import { x } from './missing.ts';\n",
    'src/high/sub/e.ts': "import { a } from '../a.ts';\n",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const rules: LayerRules = { roots: ['src'], stack: ['src/high', 'src/high/sub', 'src/low'], shared: [], outside: { 'src/tool': ['src/low'] } };
  const graph = readGraph(root, rules);
  assert.deepEqual(undeclared(root, rules), ['src/stray is in no layer, shared part or tool']);
  assert.deepEqual(wrongImports(graph, rules).sort(), [
    'src/high/sub/e.ts -> src/high/a.ts (src/high/sub may not import src/high)',
    'src/low/c.ts -> src/high/a.ts (src/low may not import src/high)',
    'src/low/d.ts -> src/low/missing.ts (no such file)',
    'src/stray/s.ts -> src/low/c.ts (outside the declared parts)',
    'src/tool/t.ts -> src/high/b.ts (src/tool may not import src/high)',
  ]);
  assert.deepEqual(fileCycles(graph), [['src/high/a.ts', 'src/high/b.ts']]);
  assert.deepEqual(partCycles(graph, rules), [['src/high', 'src/low']]);
});
