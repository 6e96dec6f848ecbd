import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PhotoFile } from '../pipeline/personalizer.ts';
import { EngineClosedError, EngineCrashedError } from './engine-errors.ts';
import type { EngineThreads, Slot } from './engine-threads.ts';

/**
 * Which slot (model worker thread) a request runs in. A job goes to the least busy ready slot
 * (requests in flight, prepared subjects kept and requests picked but not sent yet); photos seen
 * before go back to the slot that prepared them (its caches know them); a prepared subject stays
 * in its slot, and its ground, judge and generate go there too.
 */
export class Placement {
  readonly #threads: EngineThreads;
  /** Where the next search for the least busy slot starts (ties go in turn). */
  #rr = 0;
  /** Per slot: picked for a request that is not sent yet. */
  readonly #reserved: number[];
  /** Which slot last prepared these photos: its caches hold their features and prompt prefix. */
  readonly #affinity = new LRUCache<string, number>({ max: 4096 });

  constructor(threads: EngineThreads) {
    this.#threads = threads;
    this.#reserved = threads.slots.map(() => 0);
  }

  /** How busy a slot is: requests in flight, subjects it keeps, requests about to be sent to it. */
  load(slot: Slot): number {
    return slot.requests.size + slot.handles.size + this.#reserved[slot.index];
  }

  /**
   * The least busy ready slot (ties in turn), reserved for a request the caller sends next (so
   * requests picked in the same tick spread; unreserve() when sending); waits for one while none is
   * up. A `preferred` slot (the one whose caches know the photos) is taken unless it is busier than
   * that by two or more.
   */
  async pick(preferred?: number): Promise<Slot> {
    const slots = this.#threads.slots;
    for (;;) {
      if (this.#threads.closing) throw new EngineClosedError();
      const n = slots.length;
      let best: Slot | undefined;
      for (let k = 0; k < n; k++) {
        const slot = slots[(this.#rr + k) % n];
        if (slot.state === 'ready' && (!best || this.load(slot) < this.load(best))) best = slot;
      }
      const favourite = preferred === undefined ? undefined : slots[preferred];
      if (best && favourite?.state === 'ready' && this.load(favourite) <= this.load(best) + 1) best = favourite;
      if (best) {
        this.#rr = (best.index + 1) % n;
        this.#reserved[best.index]++;
        return best;
      }
      await this.#threads.whenAnyReady();
    }
  }

  /** The picked slot's request is being sent (it now counts as in flight). */
  unreserve(slot: Slot): void {
    this.#reserved[slot.index]--;
  }

  /** pick() for these photos: their previous slot preferred, and remembered as theirs now. */
  async pickForPhotos(inputs: PhotoFile[]): Promise<Slot> {
    const key = photosKey(inputs);
    const slot = await this.pick(this.#affinity.get(key));
    this.#affinity.set(key, slot.index);
    return slot;
  }

  /** The slot of a subject prepared there (by that thread): it must run there, or not at all. */
  home(subject: { slot: Slot; generation: number }): Slot {
    if (this.#threads.closing) throw new EngineClosedError();
    const slot = subject.slot;
    // Its worker died since (the subject's pixels with it): this job cannot go on.
    if (slot.generation !== subject.generation || slot.state !== 'ready') throw new EngineCrashedError();
    return slot;
  }

  /** A subject now kept by the slot's thread of `generation`: it pins the slot (counts in its load). */
  pin(slot: Slot, generation: number, handle: number): void {
    if (slot.generation === generation) slot.handles.add(handle);
  }

  /**
   * Ends a subject's pin. False when there is nothing to free in the worker: its thread has died
   * since (and the subject with it) or the pin was ended before.
   */
  unpin(held: { slot: Slot; generation: number; handle: number }): boolean {
    const { slot, generation, handle } = held;
    return slot.generation === generation && slot.handles.delete(handle);
  }
}

/** Photos' identity for slot affinity (the same subject's photos arrive as the same bytes). */
function photosKey(inputs: PhotoFile[]): string {
  const h = createHash('sha256');
  for (const p of inputs) h.update(p.bytes).update(String(p.bytes.byteLength));
  return h.digest('base64url');
}
