import type { JsonObject } from './state.ts';

/** What the bot did, as observed by the emulator, in order. */
export type EmulatorEvent =
  | { kind: 'message_create'; channelId: string; message: JsonObject; source: 'bot' | 'interaction' | 'webhook' | 'user' }
  | { kind: 'message_update'; channelId: string; message: JsonObject }
  | { kind: 'message_delete'; channelId: string; messageId: string }
  | { kind: 'thread_create'; channelId: string; thread: JsonObject }
  | { kind: 'interaction_callback'; interactionId: string; callbackType: number; body: JsonObject }
  | { kind: 'commands_update'; scope: string; commands: JsonObject[] };

type Waiter = { predicate: (e: EmulatorEvent) => boolean; resolve: (e: EmulatorEvent) => void };

/** Append-only event history that tests can wait on. */
export class EventLog {
  private readonly history: EmulatorEvent[] = [];
  private waiters: Waiter[] = [];
  private readonly listeners = new Set<(e: EmulatorEvent) => void>();

  push(event: EmulatorEvent): void {
    this.history.push(event);
    for (const listener of this.listeners) listener(event);
    const ready = this.waiters.filter((w) => w.predicate(event));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const waiter of ready) waiter.resolve(event);
  }

  /** Calls `listener` with every later event; returns the function that stops it. */
  subscribe(listener: (e: EmulatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Position to pass as `since`, so only later events match. */
  cursor(): number {
    return this.history.length;
  }

  all(): EmulatorEvent[] {
    return [...this.history];
  }

  /** Resolves with the first event (at or after `since`) matching `predicate`. */
  waitFor<E extends EmulatorEvent>(predicate: (e: EmulatorEvent) => e is E, timeoutMs?: number, since?: number): Promise<E>;
  waitFor(predicate: (e: EmulatorEvent) => boolean, timeoutMs?: number, since?: number): Promise<EmulatorEvent>;
  waitFor(predicate: (e: EmulatorEvent) => boolean, timeoutMs = 5000, since = 0): Promise<EmulatorEvent> {
    const past = this.history.slice(since).find(predicate);
    if (past) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { predicate, resolve: (e) => (clearTimeout(timer), resolve(e)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`emulator.waitFor timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}
