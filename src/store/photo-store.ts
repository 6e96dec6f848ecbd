import { createHash } from 'node:crypto';
import sharp, { type OutputInfo } from 'sharp';
import { ImageInputError, displayName } from '../images/errors.ts';
import { readHeader, type LoadOptions } from '../images/load.ts';
import { resolveLimits } from '../images/limits.ts';
import { isPhotoHash } from './ids.ts';
import type { Store } from './open-store.ts';

/**
 * Reference photos, stored once and addressed by the sha256 of their NORMALIZED bytes.
 *
 * Normalizing (EXIF rotation applied, metadata stripped, fitted within 768x768 keeping the aspect ratio,
 * never enlarged, PNG with fixed settings) makes the same picture one photo however it was uploaded, keeps
 * location and camera data out of the store, and bounds what one photo costs.
 *
 * Lifetime is reference counting with named referrers: `putPhoto(bytes, 'subject:<id>')` adds the
 * referrer, `release(hash, 'subject:<id>')` removes it and deletes the photo when none is left. Named
 * referrers (not a bare count) make both idempotent, and `sweep(isLive)` can drop referrers whose subject
 * or job no longer exists (after a crash between two writes) and any photo left without referrers; it
 * leaves anything younger than a grace period alone, so it never races a save in progress.
 *
 * Layout: namespace `photos`: <hash> -> PhotoRecord (bytes as a Buffer); namespace `photorefs`: <hash> ->
 * { [referrer]: addedAtMs }. The bytes are written before the referrer and deleted after it, under the
 * photo's lock, so a photo that has referrers always has its bytes.
 */

export const PHOTO_MAX_SIDE = 768;

export interface PhotoRecord {
  data: Buffer;
  width: number;
  height: number;
  createdAt: number;
}

export interface NormalizedPhoto {
  hash: string;
  data: Buffer;
  width: number;
  height: number;
}

/** A referrer: `<kind>:<id>`, e.g. `subject:Ab3x…` or `job:Qz9…`. */
export type PhotoRef = `${string}:${string}`;

const PNG_OPTIONS = { compressionLevel: 9, adaptiveFiltering: false, palette: false } as const;

export function photoHash(normalized: Uint8Array): string {
  return createHash('sha256').update(normalized).digest('hex');
}

/**
 * Checks an upload like every other image (size, format, pixel limit; throws ImageInputError with a
 * message for the user) and normalizes it. Deterministic: the same pixels give the same bytes.
 */
export async function normalizePhoto(bytes: Uint8Array, options: LoadOptions = {}): Promise<NormalizedPhoto> {
  await readHeader(bytes, options);
  const { maxPixels } = resolveLimits(options);
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels })
      .rotate()
      .resize({ width: PHOTO_MAX_SIDE, height: PHOTO_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
      .png(PNG_OPTIONS)
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new ImageInputError('corrupt', `${displayName(options.name)} looks damaged or incomplete and could not be read`);
  }
  return { hash: photoHash(out.data), data: out.data, width: out.info.width, height: out.info.height };
}

export interface PhotoStoreOptions {
  now?: () => number;
}

/** Referrer -> when it was added (ms). */
type RefMap = Record<string, number>;

export interface SweepOptions {
  /**
   * Referrers and unreferenced photos younger than this are left alone (default 1 hour): a save or a job
   * may be between writing its photos and writing its record, in this process or another one.
   */
  graceMs?: number;
}

export const DEFAULT_SWEEP_GRACE_MS = 60 * 60_000;

export class PhotoStore {
  readonly #store: Store;
  readonly #now: () => number;

  constructor(store: Store, options: PhotoStoreOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
  }

  /** Normalizes, stores (once) and adds `ref` as a referrer. Returns the hash. */
  async putPhoto(bytes: Uint8Array, ref: PhotoRef, options: LoadOptions = {}): Promise<string> {
    return this.putNormalized(await normalizePhoto(bytes, options), ref);
  }

  /** Stores an already normalized photo (from normalizePhoto) and adds `ref`. */
  async putNormalized(photo: NormalizedPhoto, ref: PhotoRef): Promise<string> {
    checkRef(ref);
    if (photoHash(photo.data) !== photo.hash) throw new Error('photo bytes do not match their hash');
    const { hash } = photo;
    await this.#lock(hash, async () => {
      const refs = await this.#refMap(hash);
      const existed = await this.#store.photos.has(hash);
      if (!existed) {
        const record: PhotoRecord = {
          data: Buffer.from(photo.data.buffer, photo.data.byteOffset, photo.data.byteLength),
          width: photo.width,
          height: photo.height,
          createdAt: this.#now(),
        };
        await this.#store.photos.set(hash, record);
      }
      try {
        await this.#store.photorefs.set(hash, { ...refs, [ref]: this.#now() });
      } catch (error) {
        if (!existed && Object.keys(refs).length === 0) await this.#store.photos.delete(hash).catch(() => {});
        throw error;
      }
    });
    return hash;
  }

  /** Adds a referrer to a photo that must already exist (e.g. a job reusing an uploaded photo). */
  async addRef(hash: string, ref: PhotoRef): Promise<void> {
    checkHash(hash);
    checkRef(ref);
    await this.#lock(hash, async () => {
      if (!(await this.#store.photos.has(hash))) throw new Error(`photo ${hash} does not exist`);
      const refs = await this.#refMap(hash);
      if (!(ref in refs)) await this.#store.photorefs.set(hash, { ...refs, [ref]: this.#now() });
    });
  }

  /** The normalized PNG bytes, or undefined. */
  async getPhoto(hash: string): Promise<Buffer | undefined> {
    if (!isPhotoHash(hash)) return undefined;
    const record: PhotoRecord | undefined = await this.#store.photos.get(hash);
    return record?.data;
  }

  async getRecord(hash: string): Promise<PhotoRecord | undefined> {
    if (!isPhotoHash(hash)) return undefined;
    return this.#store.photos.get(hash);
  }

  async has(hash: string): Promise<boolean> {
    return isPhotoHash(hash) && this.#store.photos.has(hash);
  }

  /** The referrers of a photo, sorted. */
  async refs(hash: string): Promise<string[]> {
    if (!isPhotoHash(hash)) return [];
    return Object.keys(await this.#refMap(hash)).sort();
  }

  /**
   * Removes `ref` from each photo; a photo left without referrers is deleted. Returns how many photos were
   * deleted. Idempotent.
   */
  async release(hashes: readonly string[], ref: PhotoRef): Promise<number> {
    checkRef(ref);
    let deleted = 0;
    for (const hash of new Set(hashes)) {
      if (!isPhotoHash(hash)) continue;
      await this.#lock(hash, async () => {
        const refs = await this.#refMap(hash);
        const { [ref]: _gone, ...left } = refs;
        if (Object.keys(left).length > 0) {
          if (ref in refs) await this.#store.photorefs.set(hash, left);
          return;
        }
        // Referrers first: a photo with referrers must always have bytes, never the reverse.
        await this.#store.photorefs.delete(hash);
        if (await this.#store.photos.delete(hash)) deleted++;
      });
    }
    return deleted;
  }

  /**
   * Repairs what a crash between two writes can leave: referrers older than the grace period for which
   * `isLive` says false are dropped, then photos without referrers (older than the grace period) and
   * referrer lists without a photo are deleted. Safe to run while the bot is working.
   */
  async sweep(
    isLive?: (ref: string) => Promise<boolean>,
    { graceMs = DEFAULT_SWEEP_GRACE_MS }: SweepOptions = {},
  ): Promise<{ photosDeleted: number; refsDropped: number }> {
    const hashes = new Set([...(await this.#store.keys('photos')), ...(await this.#store.keys('photorefs'))]);
    const cutoff = this.#now() - graceMs;
    let photosDeleted = 0;
    let refsDropped = 0;
    for (const hash of hashes) {
      await this.#lock(hash, async () => {
        const refs = await this.#refMap(hash);
        const live: RefMap = {};
        for (const [ref, at] of Object.entries(refs)) {
          if (at > cutoff || !isLive || (await isLive(ref))) live[ref] = at;
          else refsDropped++;
        }
        const record: PhotoRecord | undefined = await this.#store.photos.get(hash);
        const liveCount = Object.keys(live).length;
        if (record && (liveCount > 0 || record.createdAt > cutoff)) {
          if (liveCount !== Object.keys(refs).length) await this.#store.photorefs.set(hash, live);
          return;
        }
        await this.#store.photorefs.delete(hash);
        if (record && (await this.#store.photos.delete(hash))) photosDeleted++;
      });
    }
    return { photosDeleted, refsDropped };
  }

  /** Number of stored photos (scans keys; for tests and /stats). */
  async count(): Promise<number> {
    return (await this.#store.keys('photos')).length;
  }

  async #refMap(hash: string): Promise<RefMap> {
    return (await this.#store.photorefs.get(hash)) ?? {};
  }

  #lock<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    return this.#store.locks.run(`photo:${hash}`, fn);
  }
}

function checkHash(hash: string): void {
  if (!isPhotoHash(hash)) throw new TypeError(`not a photo hash: ${JSON.stringify(hash)}`);
}

function checkRef(ref: string): void {
  if (!/^[a-z]+:[A-Za-z0-9_-]{1,64}$/.test(ref)) throw new TypeError(`bad photo referrer ${JSON.stringify(ref)}`);
}
