import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { InputError } from '../errors.ts';

/**
 * Images over time: per member and per server, per hour and per day. Each image counts (a job with
 * count 4 uses 4).
 *
 * How bottleneck is used: each window of each scope is one limiter of a `Bottleneck.Group`, and its
 * `reservoir` is what is left of the quota. take() lowers it with `incrementReservoir(-images)`, which is
 * atomic (in Redis too); a result below zero means someone else got there first, so the images are put
 * back and the job is refused: the quota is never exceeded, at worst a racing request is refused that
 * would have fit a moment later. With a Redis URL the groups are clustered through one ioredis
 * connection, so every process of the bot shares the counts.
 *
 * Windows are fixed and aligned to the clock: hours start on the hour, days at 00:00 UTC. The window is
 * part of the limiter's key, and so is the limit (a server that changes its limit starts a fresh count).
 * Bottleneck's own refresh (reservoirRefreshInterval) is not used: it counts from when a limiter was
 * created (in Redis, from the last call after a refresh was due), a time no caller can read, and in Redis
 * an increment made after a refresh fell due is overwritten by that refresh. With the window in the key
 * the moment the next image is allowed is simply the end of the window, the same in every process.
 * A group forgets a limiter (and Redis expires its keys) once its window has ended.
 */

export interface QuotaLimits {
  /** Images one member may make per hour / per day in one server (in DMs: outside any server); 0: no limit. */
  userPerHour: number;
  userPerDay: number;
  /** Images all members of one server together may make per hour / per day; 0: no limit. */
  guildPerHour: number;
  guildPerDay: number;
}

export const NO_QUOTA: QuotaLimits = Object.freeze({ userPerHour: 0, userPerDay: 0, guildPerHour: 0, guildPerDay: 0 });

/** The quota refused a job; `retryAt` (ms since the epoch) is when the images asked for are allowed again, if ever. */
export class QuotaExceededError extends InputError {
  constructor(
    readonly retryAt: number | null,
    message: string,
  ) {
    super('quota', message);
  }
}

export interface QuotaOptions {
  /** The limits that apply in a server (null: DMs). Called on every check. */
  limitsFor: (guildId: string | null) => Promise<QuotaLimits>;
  /** Share the counts with every process using the same Redis (redis:// or rediss://). */
  redisUrl?: string;
  /** Prefix of the groups' ids (and so of the Redis keys). */
  id?: string;
  now?: () => number;
  onError?: (err: unknown) => void;
}

const HOUR_MS = 60 * 60_000;
const DAY_MS = 24 * HOUR_MS;

type ScopeName = 'userPerHour' | 'userPerDay' | 'guildPerHour' | 'guildPerDay';

const SCOPES: { name: ScopeName; windowMs: number; perGuild: boolean }[] = [
  { name: 'userPerHour', windowMs: HOUR_MS, perGuild: false },
  { name: 'userPerDay', windowMs: DAY_MS, perGuild: false },
  { name: 'guildPerHour', windowMs: HOUR_MS, perGuild: true },
  { name: 'guildPerDay', windowMs: DAY_MS, perGuild: true },
];

/** One limit that applies to a request: its limiter for the current window. */
interface Counter {
  name: ScopeName;
  limit: number;
  inGuild: boolean;
  windowEnd: number;
  limiter: Bottleneck;
}

/** Images taken for one job, so they can be given back. */
interface Ticket {
  images: number;
  counters: Counter[];
}

export class Quota {
  readonly #limitsFor: (guildId: string | null) => Promise<QuotaLimits>;
  readonly #id: string;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  readonly #connection?: Bottleneck.IORedisConnection;
  readonly #groups = new Map<string, Bottleneck.Group>();
  readonly #tickets = new Map<string, Ticket>();

  constructor(options: QuotaOptions) {
    this.#limitsFor = options.limitsFor;
    this.#id = options.id ?? 'xcot-quota';
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    if (options.redisUrl) {
      const client = new Redis(options.redisUrl, { lazyConnect: false });
      this.#connection = new Bottleneck.IORedisConnection({ client, Redis });
      this.#connection.on('error', (err) => this.#onError(err));
    }
  }

  /** Throws QuotaExceededError when `images` more would go over a limit now; takes nothing. */
  async check(userId: string, guildId: string | null, images: number): Promise<void> {
    const counters = await this.#counters(userId, guildId);
    const left = await Promise.all(counters.map((c) => c.limiter.currentReservoir()));
    const refusal = explain(counters, left.map((l) => l ?? 0), images);
    if (refusal) throw refusal;
  }

  /**
   * Takes `images` from every limit that applies, for job `jobId`, or throws QuotaExceededError and takes
   * nothing. refund(jobId) gives them back; settle(jobId) keeps them.
   */
  async take(jobId: string, userId: string, guildId: string | null, images: number): Promise<void> {
    if (this.#tickets.has(jobId)) throw new Error(`quota already taken for job ${jobId}`);
    const counters = await this.#counters(userId, guildId);
    const taken: Counter[] = [];
    let overdrawn = false;
    for (const counter of counters) {
      const left = await counter.limiter.incrementReservoir(-images);
      taken.push(counter);
      if ((left ?? 0) < 0) {
        overdrawn = true;
        break;
      }
    }
    if (overdrawn) {
      await Promise.all(taken.map((c) => c.limiter.incrementReservoir(images)));
      const left = await Promise.all(counters.map((c) => c.limiter.currentReservoir()));
      // A racing request held the images a moment ago; say so as if they were used.
      throw explain(counters, left.map((l) => l ?? 0), images) ?? explain(counters, counters.map(() => 0), images)!;
    }
    this.#tickets.set(jobId, { images, counters: taken });
  }

  /** Gives back what take() took for a job (while its windows last); false when nothing was held. */
  async refund(jobId: string): Promise<boolean> {
    const ticket = this.#tickets.get(jobId);
    if (!ticket) return false;
    this.#tickets.delete(jobId);
    const now = this.#now();
    await Promise.all(ticket.counters.filter((c) => c.windowEnd > now).map((c) => c.limiter.incrementReservoir(ticket.images)));
    return true;
  }

  /** The job used its images: forget the ticket. */
  settle(jobId: string): void {
    this.#tickets.delete(jobId);
  }

  async close(): Promise<void> {
    // Flushed (QUIT, not a dropped socket): a command still in flight, such as a new limiter's
    // SUBSCRIBE, gets its reply instead of a "Connection is closed." rejection nobody awaits.
    for (const group of this.#groups.values()) {
      // Each limiter's Redis heartbeat stops with it; the shared connection goes last.
      for (const { limiter } of group.limiters()) await limiter.disconnect(true);
      await group.disconnect(true);
    }
    this.#groups.clear();
    await this.#connection?.disconnect(true);
  }

  async #counters(userId: string, guildId: string | null): Promise<Counter[]> {
    const limits = await this.#limitsFor(guildId);
    const now = this.#now();
    const counters: Counter[] = [];
    for (const scope of SCOPES) {
      const limit = limits[scope.name];
      if (!Number.isInteger(limit) || limit <= 0) continue;
      if (scope.perGuild && guildId === null) continue;
      const window = Math.floor(now / scope.windowMs);
      const subject = scope.perGuild ? guildId! : `${guildId ?? 'dm'}:${userId}`;
      counters.push({
        name: scope.name,
        limit,
        inGuild: guildId !== null,
        windowEnd: (window + 1) * scope.windowMs,
        limiter: this.#group(scope.name, limit, scope.windowMs).key(`${subject}:${window}`),
      });
    }
    return counters;
  }

  /** One group per scope and limit, so every limiter in it starts with that limit as its reservoir. */
  #group(name: ScopeName, limit: number, windowMs: number): Bottleneck.Group {
    const id = `${this.#id}-${name}-${limit}`;
    let group = this.#groups.get(id);
    if (!group) {
      group = new Bottleneck.Group({
        id,
        reservoir: limit,
        // Idle limiters (Redis keys) are dropped after this long: by then their window has ended.
        timeout: windowMs + 60_000,
        // No jobs run on these limiters, so their Redis heartbeat (5 s by default, per limiter) has nothing to do.
        ...(this.#connection ? { datastore: 'ioredis', connection: this.#connection, heartbeatInterval: 60_000 } : {}),
      });
      group.on('error', (err) => this.#onError(err));
      group.on('created', (limiter) => limiter.on('error', (err) => this.#onError(err)));
      this.#groups.set(id, group);
    }
    return group;
  }
}

const WHAT: Record<ScopeName, (limit: number, inGuild: boolean) => string> = {
  userPerHour: (n, g) => `you can make ${plural(n, 'image')} an hour${g ? ' in this server' : ''}`,
  userPerDay: (n, g) => `you can make ${plural(n, 'image')} a day${g ? ' in this server' : ''}`,
  guildPerHour: (n) => `this server can make ${plural(n, 'image')} an hour`,
  guildPerDay: (n) => `this server can make ${plural(n, 'image')} a day`,
};

/** The refusal for `images` more given what each counter has left, or null when they fit. */
function explain(counters: Counter[], left: number[], images: number): QuotaExceededError | null {
  const short = counters.map((c, i) => ({ ...c, left: Math.max(0, left[i]) })).filter((c) => c.left < images);
  if (short.length === 0) return null;
  const describe = (c: Counter) => WHAT[c.name](c.limit, c.inGuild);
  const tooMany = short.find((c) => c.limit < images);
  if (tooMany) {
    return new QuotaExceededError(null, `${capitalize(describe(tooMany))}, so ${images} at once is too many; ask for ${tooMany.limit} or fewer.`);
  }
  // Each short counter is full again when its window ends; the images fit once the last of them has.
  const retryAt = Math.max(...short.map((c) => c.windowEnd));
  const binding = short.find((c) => c.windowEnd === retryAt)!;
  const fewest = Math.min(...short.map((c) => c.left));
  const when = `<t:${Math.ceil(retryAt / 1000)}:R>`;
  const message =
    fewest === 0
      ? `${capitalize(describe(binding))} and that is used up; the next image is allowed ${when}.`
      : `${capitalize(describe(binding))}; ${plural(fewest, 'image')} left now, not ${images}. Ask for fewer, or wait until ${when}.`;
  return new QuotaExceededError(retryAt, message);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
