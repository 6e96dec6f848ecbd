import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The relative-import graph of a source tree, read from the files' text, and the layer rules it is
 * checked against. Every path is relative to the tree's root and uses '/'.
 */

export interface LayerRules {
  /** Folders whose every entry (folder or source file) must be one declared part. */
  roots: string[];
  /** The product's layers, top to bottom: each imports only the layers below it and the shared parts. */
  stack: string[];
  /** Parts beside the stack, bottom up: each imports only the shared parts before it, never a layer. */
  shared: string[];
  /** Entry points and tools, outside the stack: the parts each may import besides itself. */
  outside: Record<string, string[]>;
}

const SOURCE = /\.(ts|mts|mjs|js)$/;

export function sourceFilesUnder(root: string, dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(root, path)).isDirectory()) return sourceFilesUnder(root, path);
    return SOURCE.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative module references in a file: static and dynamic imports, re-exports, `new URL(…, import.meta.url)`. */
export function importsOf(root: string, file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const patterns = [
    /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g,
    /\bnew\s+URL\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url/g,
  ];
  const specs = patterns.flatMap((p) => [...text.matchAll(p)].map((m) => m[1]));
  return specs.map((spec) => relative(root, resolve(root, dirname(file), spec)).split('\\').join('/'));
}

function allParts(rules: LayerRules): string[] {
  return [...rules.stack, ...rules.shared, ...Object.keys(rules.outside)];
}

/** The declared part a path is in: the longest one holding it (a folder inside a layer may be a layer of its own). */
export function partOf(rules: LayerRules, path: string): string | undefined {
  const holding = allParts(rules).filter((p) => path === p || path.startsWith(`${p}/`));
  return holding.sort((x, y) => y.length - x.length)[0];
}

/** Entries under the roots that no rule declares, and declared parts that do not exist. */
export function undeclared(root: string, rules: LayerRules): string[] {
  const wrong: string[] = [];
  for (const dir of rules.roots) {
    if (partOf(rules, dir)) continue;
    for (const name of readdirSync(join(root, dir))) {
      const path = `${dir}/${name}`;
      const isDir = statSync(join(root, path)).isDirectory();
      if (!isDir && (!SOURCE.test(name) || name.endsWith('.d.ts'))) continue;
      if (!partOf(rules, path)) wrong.push(`${path} is in no layer, shared part or tool`);
    }
  }
  for (const part of allParts(rules)) if (!existsSync(join(root, part))) wrong.push(`${part} is declared but does not exist`);
  return wrong;
}

function mayImport(rules: LayerRules, from: string, to: string): boolean {
  if (from === to) return true;
  const fromStack = rules.stack.indexOf(from);
  if (fromStack >= 0) return rules.stack.indexOf(to) > fromStack || rules.shared.includes(to);
  const fromShared = rules.shared.indexOf(from);
  if (fromShared >= 0) return rules.shared.indexOf(to) >= 0 && rules.shared.indexOf(to) < fromShared;
  return rules.outside[from]?.includes(to) ?? false;
}

export interface ImportGraph {
  files: string[];
  edges: Map<string, string[]>;
}

export function readGraph(root: string, rules: LayerRules): ImportGraph {
  const files = rules.roots.flatMap((dir) => sourceFilesUnder(root, dir));
  return { files, edges: new Map(files.map((f) => [f, importsOf(root, f)])) };
}

/** Imports that break the rules: an arrow upward, sideways, into an undeclared part or to a missing file. */
export function wrongImports(graph: ImportGraph, rules: LayerRules): string[] {
  const known = new Set(graph.files);
  const wrong: string[] = [];
  for (const [file, targets] of graph.edges) {
    const from = partOf(rules, file);
    for (const target of targets) {
      if (!known.has(target) && SOURCE.test(target)) wrong.push(`${file} -> ${target} (no such file)`);
      const to = partOf(rules, target);
      if (!from || !to) {
        if (known.has(target)) wrong.push(`${file} -> ${target} (outside the declared parts)`);
        continue;
      }
      if (!mayImport(rules, from, to)) wrong.push(`${file} -> ${target} (${from} may not import ${to})`);
    }
  }
  return wrong;
}

/** Strongly connected groups of more than one node (Tarjan), each sorted, the list sorted. */
export function cycles(nodes: string[], next: (node: string) => string[]): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) found.push(group.sort());
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0].localeCompare(b[0]));
}

export function fileCycles(graph: ImportGraph): string[][] {
  const known = new Set(graph.files);
  return cycles(graph.files, (f) => (graph.edges.get(f) ?? []).filter((t) => known.has(t)));
}

export function partCycles(graph: ImportGraph, rules: LayerRules): string[][] {
  const arrows = new Map<string, Set<string>>();
  for (const [file, targets] of graph.edges) {
    const from = partOf(rules, file);
    if (!from) continue;
    for (const target of targets) {
      const to = partOf(rules, target);
      if (to && to !== from) arrows.set(from, (arrows.get(from) ?? new Set()).add(to));
    }
  }
  return cycles(allParts(rules), (p) => [...(arrows.get(p) ?? [])]);
}
