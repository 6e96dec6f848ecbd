import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../../src/errors.ts';
import { NAMESPACES, openStores, type Store, type Stores } from '../../src/store/index.ts';

/** Shared by the store tests: Discord-like ids, a temp folder per test file, pictures, and checks. */

// Discord-like ids: users A, B, C; servers G1, G2.
export const A = '100000000000000001';
export const B = '200000000000000002';
export const C = '300000000000000003';
export const G1 = '900000000000000001';
export const G2 = '900000000000000002';
export const CH = '800000000000000001';

// Registered when a test file imports this module, so the folder goes after that file's tests.
const root = mkdtempSync(join(tmpdir(), 'store-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;

/** This test file's temp folder, removed after its tests. */
export function storeTestRoot(): string {
  return root;
}

export function freshDir(): string {
  return join(storeTestRoot(), `data-${++dirCount}`, 'nested');
}

export async function withStores<T>(fn: (s: Stores) => Promise<T>, options: Parameters<typeof openStores>[0] | object = {}): Promise<T> {
  const stores = await openStores({ dataDir: freshDir(), ...options });
  try {
    return await fn(stores);
  } finally {
    await stores.close();
  }
}

/** A small deterministic picture; `seed` changes every pixel. */
export async function photo(seed: number, opts: { width?: number; height?: number; format?: 'png' | 'jpeg'; orientation?: number } = {}): Promise<Buffer> {
  const width = opts.width ?? 40;
  const height = opts.height ?? 30;
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 5 + seed * 37) & 255;
      raw[i + 1] = (y * 7 + seed * 11) & 255;
      raw[i + 2] = (x * y + seed) & 255;
    }
  }
  let img = sharp(raw, { raw: { width, height, channels: 3 } });
  img = opts.format === 'jpeg' ? img.jpeg({ quality: 92 }) : img.png();
  if (opts.orientation) img = img.withMetadata({ orientation: opts.orientation });
  return img.toBuffer();
}

/** Every key and value in every namespace, as text, to look for traces of a user. */
export async function dump(store: Store): Promise<{ ns: string; key: string; text: string }[]> {
  const out: { ns: string; key: string; text: string }[] = [];
  for (const ns of NAMESPACES) {
    for (const key of await store.keys(ns)) {
      const value = await store.ns(ns).get(key);
      out.push({ ns, key, text: `${key} ${JSON.stringify(value, (_k, v) => (v?.type === 'Buffer' ? '<bytes>' : v))}` });
    }
  }
  return out;
}

export async function rejectsInput(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}
