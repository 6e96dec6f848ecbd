import { createHash, randomBytes } from 'node:crypto';
import {
  constants, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, normalize, sep } from 'node:path';
import type onnxProto from 'onnx-proto';
import type { AttentionForm, AttentionVariant } from './attention-form.ts';
import type { KvAppendPlan, MatMulLevels } from './kv-append-plan.ts';
import { REWRITE_VERSION } from './kv-append-rewrite.ts';

/**
 * planKvAppend's on-disk cache: one folder per source file, accuracy level and rewrite version,
 * keyed by the file's path, size, mtime and inode, holding plan.json and (for a rewrite) the
 * rewritten model beside hard links to the original's external data files.
 */

/** Where rewrites are kept between runs: XCOT_GRAPH_CACHE, else ~/.cache/xcot-personalize/graphs. */
export function defaultGraphCacheDir(): string {
  return process.env.XCOT_GRAPH_CACHE || join(homedir(), '.cache', 'xcot-personalize', 'graphs');
}

export interface CacheMeta {
  version: number;
  source: string;
  /** The accuracy level asked for (null: the file's own). */
  level: number | null;
  form: AttentionForm | null;
  variant: AttentionVariant | null;
  matMul: MatMulLevels | null;
  reason?: string;
  file?: string;
  newKeys?: string[];
  newValues?: string[];
  /** The data files linked beside the rewrite, with the identity they had. */
  linked?: { location: string; identity: string }[];
}

export function identityKey(path: string, level: number | null): string {
  return createHash('sha256').update(`${REWRITE_VERSION}\n${path}\n${fileIdentity(path)}\n${level ?? 'file'}`).digest('hex').slice(0, 20);
}

function fileIdentity(path: string): string {
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}:${s.ino}:${s.dev}`;
}

export function readCached(entry: string, source: string): KvAppendPlan | null {
  let meta: CacheMeta;
  try {
    meta = JSON.parse(readFileSync(join(entry, 'plan.json'), 'utf8')) as CacheMeta;
  } catch {
    return null;
  }
  if (meta.version !== REWRITE_VERSION || meta.source !== source) return null;
  if (meta.reason !== undefined) return { form: meta.form, variant: meta.variant, matMul: meta.matMul, reason: meta.reason, fromCache: true };
  if (!meta.form || !meta.matMul || !meta.file || !meta.newKeys || !meta.newValues || !existsSync(join(entry, meta.file))) return null;
  for (const { location, identity } of meta.linked ?? []) {
    // A data file replaced since: the link still holds the old bytes.
    const original = join(dirname(source), location);
    if (!existsSync(original) || fileIdentity(original) !== identity) return null;
  }
  return { form: meta.form, variant: meta.variant!, matMul: meta.matMul, path: join(entry, meta.file), newKeys: meta.newKeys, newValues: meta.newValues, fromCache: true, cleanup: () => {} };
}

/**
 * Moves a finished staging folder into place and drops older rewrites of the same file. When
 * file that is gone). When another process finished the same entry first, its entry stays (a
 * session may be reading it).
 */
export function writeEntry(staging: string, target: string, source: string, meta: CacheMeta): void {
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'plan.json'), `${JSON.stringify(meta)}\n`);
  try {
    // Fails when the entry exists (a rename never replaces a non-empty folder).
    renameSync(staging, target);
  } catch {
    if (readCached(target, source)) {
      rmSync(staging, { recursive: true, force: true });
      return;
    }
    // A stale or broken entry (another rewrite version, a half-deleted folder): replace it.
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
  }
  const root = dirname(target);
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    if (dir === target || !name.startsWith(`${basename(source)}-`) || name.includes('.tmp-')) continue;
    try {
      const other = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as CacheMeta;
      // Rewrites of the same file at other accuracy levels stay (another process may use them).
      if ((other.source === source && (other.level ?? null) === meta.level) || !existsSync(other.source)) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not one of ours, or being written: leave it.
    }
  }
}

export function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.probe-${randomBytes(4).toString('hex')}`);
    writeFileSync(probe, '');
    rmSync(probe);
    return true;
  } catch {
    return false;
  }
}

export function linkData(from: string, to: string, graph: onnxProto.onnx.IGraphProto): { location: string; identity: string }[] {
  const locations = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  }
  const linked: { location: string; identity: string }[] = [];
  for (const location of locations) {
    const relative = normalize(location);
    if (relative.startsWith('..') || relative.startsWith(sep)) throw new Error(`external data outside the model folder: ${location}`);
    const target = join(to, relative);
    mkdirSync(dirname(target), { recursive: true });
    try {
      linkSync(join(from, relative), target);
    } catch {
      copyFileSync(join(from, relative), target, constants.COPYFILE_FICLONE);
    }
    linked.push({ location: relative, identity: fileIdentity(join(from, relative)) });
  }
  return linked;
}
