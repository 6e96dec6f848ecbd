import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What a gateway does with its own postings of a user who is being forgotten (src/bot/delivery/deliveries-in-progress.ts). */
export interface PostingStopper {
  /** Stops this process's postings of `userId`, holds new ones back, and waits (at most `timeoutMs`) until the stopped ones have ended. */
  stop(userId: string, timeoutMs: number): Promise<void>;
  /** The user is forgotten: postings of theirs are no longer held back here (their records are gone, so any later one is refused). */
  release(userId: string): void;
}

/** How many gateways were asked to stop a user's postings, and how many said they had (this one included). */
export interface StopAnswer {
  asked: number;
  answered: number;
}

/**
 * Reaches every gateway before forget-me deletes a user's data: each stops its postings of that user and
 * holds new ones back until release(), so that no posting is between its "does the job exist" check and
 * its write while the data is deleted (the store's locks are per process).
 */
export interface ForgetReach {
  /** What this process does when asked (the bot sets it when it starts; until then it has no postings to stop). */
  serve(stopper: PostingStopper): void;
  stopEverywhere(userId: string, timeoutMs: number): Promise<StopAnswer>;
  release(userId: string): Promise<void>;
  close(): Promise<void>;
}

/** A process that has not started its bot yet posts nothing. */
const NO_POSTINGS: PostingStopper = { stop: async () => {}, release: () => {} };

/** JOB_QUEUE=local: this process is the only gateway. */
export class LocalForgetReach implements ForgetReach {
  #stopper = NO_POSTINGS;

  serve(stopper: PostingStopper): void {
    this.#stopper = stopper;
  }

  async stopEverywhere(userId: string, timeoutMs: number): Promise<StopAnswer> {
    await this.#stopper.stop(userId, timeoutMs);
    return { asked: 1, answered: 1 };
  }

  async release(userId: string): Promise<void> {
    this.#stopper.release(userId);
  }

  async close(): Promise<void> {}
}

type ForgetMessage =
  | { kind: 'stop'; ask: string; from: string; userId: string; timeoutMs: number }
  | { kind: 'stopped'; ask: string; from: string }
  | { kind: 'release'; from: string; userId: string };

/**
 * JOB_QUEUE=redis: a pub/sub channel every gateway listens on. The asking gateway publishes "stop", which
 * Redis hands to every subscribed gateway (PUBLISH says how many); each stops its postings and answers
 * "stopped", and the asker waits for as many answers as there were other listeners, up to its bound.
 */
export class RedisForgetReach implements ForgetReach {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  #stopper = NO_POSTINGS;
  readonly #me = randomUUID();
  /** Asks of this process still waiting for answers: ask id -> count them. */
  readonly #waiting = new Map<string, () => void>();

  private constructor(pub: Redis, sub: Redis, channel: string) {
    this.#pub = pub;
    this.#sub = sub;
    this.#channel = channel;
  }

  /** Listens on `channel` through `sub` (a connection of its own: a subscribed one cannot publish) and publishes through `pub`. */
  static async start(pub: Redis, sub: Redis, channel: string): Promise<RedisForgetReach> {
    const reach = new RedisForgetReach(pub, sub, channel);
    sub.on('message', (ch: string, text: string) => {
      if (ch === channel) reach.#heard(text);
    });
    await sub.subscribe(channel);
    return reach;
  }

  serve(stopper: PostingStopper): void {
    this.#stopper = stopper;
  }

  async stopEverywhere(userId: string, timeoutMs: number): Promise<StopAnswer> {
    const ask = randomUUID();
    let answered = 0;
    let allIn!: () => void;
    const done = new Promise<void>((resolve) => (allIn = resolve));
    let others = Number.POSITIVE_INFINITY;
    this.#waiting.set(ask, () => {
      answered++;
      if (answered >= others) allIn();
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    try {
      const local = this.#stopper.stop(userId, timeoutMs);
      // Bounded too: while Redis is away the publish waits for its reconnect.
      const published = this.#publish({ kind: 'stop', ask, from: this.#me, userId, timeoutMs }).then((listeners) => {
        // This process hears its own message too.
        others = Math.max(0, listeners - 1);
        if (answered >= others) allIn();
      });
      published.catch(() => {});
      // A publish that failed reached nobody: nothing to wait for.
      await Promise.all([local, Promise.race([published.then(() => done, () => undefined), timeout])]);
      // Unpublished in time: how many listen is unknown; at least the one that did not answer.
      const asked = Number.isFinite(others) ? others + 1 : answered + 2;
      return { asked, answered: Math.min(answered + 1, asked) };
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(ask);
    }
  }

  async release(userId: string): Promise<void> {
    this.#stopper.release(userId);
    // Not waited for (Redis may be away): a hold nobody releases lapses by itself (deliveries-in-progress.ts).
    this.#publish({ kind: 'release', from: this.#me, userId }).catch(() => {});
  }

  async close(): Promise<void> {
    await this.#sub.unsubscribe(this.#channel).catch(() => {});
  }

  async #publish(message: ForgetMessage): Promise<number> {
    return this.#pub.publish(this.#channel, JSON.stringify(message));
  }

  #heard(text: string): void {
    let message: ForgetMessage;
    try {
      message = JSON.parse(text) as ForgetMessage;
    } catch {
      return;
    }
    if (message.from === this.#me) return;
    if (message.kind === 'stopped') {
      this.#waiting.get(message.ask)?.();
    } else if (message.kind === 'release' && typeof message.userId === 'string') {
      this.#stopper.release(message.userId);
    } else if (message.kind === 'stop' && typeof message.userId === 'string') {
      const timeoutMs = Number.isFinite(message.timeoutMs) ? Math.max(0, message.timeoutMs) : 0;
      void this.#stopper
        .stop(message.userId, timeoutMs)
        .then(() => this.#publish({ kind: 'stopped', ask: message.ask, from: this.#me }))
        .catch(() => {});
    }
  }
}
