import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizePhoto } from '../../src/store/index.ts';

/** Looks for a user's data in the files of a data folder, byte by byte (see test/faults/forget-me-*.test.ts). */

export type Hits = Map<string, Record<string, number>>;

/** A byte string to look for. A `raw` one is looked for but need not be found before deletion (see below). */
export interface Needle {
  label: string;
  bytes: Buffer;
  raw?: true;
}

/**
 * Byte strings that identify a photo as stored: its hash, and pieces of its normalized bytes as base64 (how
 * the store writes a Buffer) and raw (how it never writes one, hence `raw`).
 */
export async function photoNeedles(label: string, bytes: Buffer): Promise<Needle[]> {
  const n = await normalizePhoto(bytes);
  const b64 = n.data.toString('base64');
  const needles: Needle[] = [{ label: `${label} sha256`, bytes: Buffer.from(n.hash) }];
  for (const at of [0.25, 0.5, 0.75]) {
    const raw = Math.floor((n.data.length * at) / 3) * 3; // a multiple of 3 starts a base64 quantum
    needles.push({ label: `${label} bytes@${at}`, bytes: n.data.subarray(raw, raw + 48), raw: true });
    const text = (raw / 3) * 4;
    needles.push({ label: `${label} base64@${at}`, bytes: Buffer.from(b64.slice(text, text + 64)) });
  }
  return needles;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function countIn(haystack: Buffer, needle: Buffer): number {
  let n = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) n++;
  return n;
}

/** needle label -> file name -> occurrences (files without any left out). */
export async function scan(dir: string, needles: Needle[]): Promise<Hits> {
  const hits: Hits = new Map();
  for (const file of await filesUnder(dir)) {
    const content = await readFile(file);
    for (const { label, bytes } of needles) {
      const n = countIn(content, bytes);
      if (n === 0) continue;
      const entry = hits.get(label) ?? {};
      entry[file.slice(dir.length + 1)] = n;
      hits.set(label, entry);
    }
  }
  return hits;
}

export function describe(hits: Hits): string {
  return [...hits].map(([label, files]) => `${label}: ${JSON.stringify(files)}`).join('\n');
}

/** Needles that should be in the files but are not: the scan would be blind to them. */
export function missing(needles: Needle[], hits: Hits): string[] {
  return needles.filter((n) => !n.raw && !hits.has(n.label)).map((n) => n.label);
}

export function total(hits: Hits): number {
  return [...hits.values()].reduce((sum, files) => sum + Object.values(files).reduce((a, b) => a + b, 0), 0);
}
