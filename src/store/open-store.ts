import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Keyv, { type KeyvStoreAdapter, type StoredData } from 'keyv';
import KeyvSqlite from '@keyv/sqlite';
import KeyvRedis, { createClient } from '@keyv/redis';
import { KeyedLock } from './keyed-lock.ts';

/**
 * The bot's persistent key-value store: one SQLite file by default, Redis when a URL is given.
 *
 * Values go through Keyv's default serializer (@keyv/serialize): JSON in which a Node Buffer becomes the
 * string ":base64:<bytes>" and comes back as an equal Buffer, and a string that starts with ":" is escaped
 * so it cannot be mistaken for one. Plain Uint8Arrays are NOT handled (they would come back as objects
 * with numeric keys): convert to Buffer before storing, as photo-store does. Both backends store that same
 * text, so a value round-trips identically on either.
 *
 * Layout
 * - SQLite: `${dataDir}/bot.sqlite`, table `keyv(key, value)`, keys `<namespace>:<key>`, WAL journal,
 *   secure_delete on (deleted records are zeroed in the file; purge() empties the WAL after a deletion).
 *   All namespaces share ONE connection (a thin per-namespace adapter over one KeyvSqlite), because Keyv
 *   writes its namespace onto the adapter it is given and would break a shared adapter otherwise.
 * - Redis: one client shared by all namespaces, keys `<namespace>::<key>`; commands fail fast while the
 *   connection is down (no offline queue) instead of hanging an interaction.
 *
 * Errors: every Keyv here has throwOnErrors, so a failed read or write rejects instead of quietly reading
 * as "missing" or returning false; that is what lets the stores above roll back half-done writes.
 */

export const NAMESPACES = ['meta', 'subjects', 'photos', 'photorefs', 'groundings', 'jobs', 'settings', 'consents', 'feedback'] as const;
export type Namespace = (typeof NAMESPACES)[number];

/** Bumped when the layout of stored records changes incompatibly. */
export const STORE_SCHEMA_VERSION = 1;

export interface OpenStoreOptions {
  /** Folder of the SQLite file (created if missing). Ignored for Redis except as a place for nothing. */
  dataDir: string;
  /** e.g. redis://127.0.0.1:6379/0; when set, Redis is used instead of SQLite. */
  redisUrl?: string;
  /** Connection-level errors (Redis reconnects, SQLite open failures); default: ignored. */
  onError?: (error: unknown) => void;
  /** How long to wait for Redis at startup (default 5 s). */
  connectTimeoutMs?: number;
}

export interface Store {
  readonly backend: 'sqlite' | 'redis';
  /** The SQLite file, or the Redis URL without its password. */
  readonly location: string;
  readonly meta: Keyv;
  readonly subjects: Keyv;
  readonly photos: Keyv;
  readonly photorefs: Keyv;
  readonly groundings: Keyv;
  readonly jobs: Keyv;
  ns(name: Namespace): Keyv;
  /** Every key of a namespace (without the prefix), values not loaded. For sweeps and maintenance. */
  keys(name: Namespace): Promise<string[]>;
  /**
   * After deletions that must leave no trace ("forget me"): SQLite copies the WAL into the main file and
   * truncates it, so no old page image of a deleted record survives in either file (secure_delete has
   * already zeroed the freed space). Redis: nothing to do, a deleted key is gone. Throws if the WAL could
   * not be emptied (another connection kept reading); the deletions themselves stand.
   */
  purge(): Promise<void>;
  /** In-process locks shared by every store built on this one; see keyed-lock.ts. */
  readonly locks: KeyedLock;
  readonly closed: boolean;
  /** Closes the connection; idempotent. Later operations reject. */
  close(): Promise<void>;
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const onError = options.onError ?? (() => {});
  const opened = options.redisUrl ? await openRedis(options.redisUrl, options, onError) : await openSqlite(options.dataDir, onError);

  const keyvs = new Map<Namespace, Keyv>();
  for (const name of NAMESPACES) {
    keyvs.set(
      name,
      new Keyv(opened.adapter(name), {
        namespace: name,
        throwOnErrors: true,
        // The Redis adapter prefixes keys itself; the SQLite one does not, so Keyv does.
        useKeyPrefix: opened.backend === 'sqlite',
      }),
    );
  }

  let closed = false;
  const ns = (name: Namespace): Keyv => {
    const keyv = keyvs.get(name);
    if (!keyv) throw new RangeError(`unknown store namespace ${JSON.stringify(name)}`);
    return keyv;
  };
  const store: Store = {
    backend: opened.backend,
    location: opened.location,
    meta: ns('meta'),
    subjects: ns('subjects'),
    photos: ns('photos'),
    photorefs: ns('photorefs'),
    groundings: ns('groundings'),
    jobs: ns('jobs'),
    ns,
    keys: async (name) => {
      ns(name);
      return opened.keys(name);
    },
    purge: () => opened.purge(),
    locks: new KeyedLock(),
    get closed() {
      return closed;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await opened.close();
    },
  };

  try {
    const version = await store.meta.get('schema');
    if (version === undefined) await store.meta.set('schema', STORE_SCHEMA_VERSION);
    else if (typeof version !== 'number' || version > STORE_SCHEMA_VERSION) {
      throw new Error(`${store.location} has store schema ${String(version)}; this bot understands up to ${STORE_SCHEMA_VERSION}`);
    }
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

interface OpenedBackend {
  backend: 'sqlite' | 'redis';
  location: string;
  adapter(name: Namespace): KeyvStoreAdapter;
  keys(name: Namespace): Promise<string[]>;
  purge(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------- SQLite

export const SQLITE_FILE = 'bot.sqlite';

async function openSqlite(dataDir: string, onError: (error: unknown) => void): Promise<OpenedBackend> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, SQLITE_FILE);
  const db = new KeyvSqlite({ uri: `sqlite://${file}`, busyTimeout: 5000, iterationLimit: 50 });
  db.on('error', onError);
  // Surfaces a failed open now, and makes the file robust and readable by other tools while the bot runs.
  await db.query('PRAGMA journal_mode=WAL');
  await db.query('PRAGMA synchronous=NORMAL');
  // Deleted and overwritten records are zeroed, not left in free space: what a user deletes is gone from
  // the file, not just unreachable. A per-connection setting, so on every open.
  await db.query('PRAGMA secure_delete=ON');
  await scrubFreeSpaceOnce(db, onError);
  const table = db.opts.table ?? 'keyv';
  return {
    backend: 'sqlite',
    location: file,
    adapter: (name) => new SqliteNamespace(db, name, file),
    keys: async (name) => {
      const prefix = `${name}:`;
      // substr, not LIKE: LIKE is case-insensitive and treats _ and % as wildcards.
      const rows: { key: string }[] = await db.query(
        `SELECT key FROM ${table} WHERE substr(key, 1, ?) = ? ORDER BY key`,
        prefix.length,
        prefix,
      );
      return rows.map((row) => row.key.slice(prefix.length));
    },
    purge: async () => {
      const [row] = (await db.query('PRAGMA wal_checkpoint(TRUNCATE)')) as { busy: number; log: number; checkpointed: number }[];
      if (row?.busy) throw new Error(`${file}: the write-ahead log could not be emptied (another connection is using it); deleted data may remain in it until the next checkpoint`);
    },
    close: () => db.disconnect(),
  };
}

/** PRAGMA user_version once the file has been vacuumed under secure_delete (see scrubFreeSpaceOnce). */
const SCRUBBED_USER_VERSION = 1;

/**
 * A file written before secure_delete was on still holds old copies of records in its free space;
 * VACUUM rewrites it without them, once (marked in the header's user_version). Best effort: while another
 * connection holds the file it fails, is reported, and is tried again at the next open.
 */
async function scrubFreeSpaceOnce(db: KeyvSqlite, onError: (error: unknown) => void): Promise<void> {
  const [row] = (await db.query('PRAGMA user_version')) as { user_version: number }[];
  if ((row?.user_version ?? 0) >= SCRUBBED_USER_VERSION) return;
  try {
    await db.query('VACUUM');
    await db.query(`PRAGMA user_version=${SCRUBBED_USER_VERSION}`);
    await db.query('PRAGMA wal_checkpoint(TRUNCATE)');
  } catch (error) {
    onError(error);
  }
}

/**
 * One namespace's view of the shared KeyvSqlite. Keyv prefixes the keys (`<namespace>:`), so get/set pass
 * straight through; clear and iterator are bound to this namespace rather than to whatever namespace the
 * last Keyv wrote onto a shared adapter.
 */
class SqliteNamespace extends EventEmitter implements KeyvStoreAdapter {
  namespace?: string;
  readonly opts: { dialect: 'sqlite'; url: string };

  constructor(
    private readonly db: KeyvSqlite,
    private readonly fixedNamespace: string,
    file: string,
  ) {
    super();
    this.namespace = fixedNamespace;
    this.opts = { dialect: 'sqlite', url: `sqlite://${file}` };
  }

  get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.db.get<Value>(key) as Promise<StoredData<Value> | undefined>;
  }

  getMany<Value>(keys: string[]): Promise<StoredData<Value | undefined>[]> {
    return this.db.getMany<Value>(keys);
  }

  set(key: string, value: unknown): Promise<unknown> {
    return this.db.set(key, value);
  }

  delete(key: string): Promise<boolean> {
    return this.db.delete(key);
  }

  deleteMany(keys: string[]): Promise<boolean> {
    return this.db.deleteMany(keys);
  }

  has(key: string): Promise<boolean> {
    return this.db.has(key);
  }

  async clear(): Promise<void> {
    const prefix = `${this.fixedNamespace}:`;
    await this.db.query(`DELETE FROM ${this.db.opts.table ?? 'keyv'} WHERE substr(key, 1, ?) = ?`, prefix.length, prefix);
  }

  // Keyv's store interface types its iterator with any.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  iterator(): AsyncGenerator<any, void, any> {
    return this.db.iterator(this.fixedNamespace);
  }

  async disconnect(): Promise<void> {
    // The shared connection is closed once, by Store.close().
  }
}

// ----------------------------------------------------------------------------------------------- Redis

type RedisClient = ReturnType<typeof createClient>;

async function openRedis(url: string, options: OpenStoreOptions, onError: (error: unknown) => void): Promise<OpenedBackend> {
  const location = redactUrl(url);
  const client: RedisClient = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: options.connectTimeoutMs ?? 5000,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 5000),
    },
  });
  client.on('error', onError);
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    client.destroy();
    throw new Error(`Could not connect to Redis at ${location}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  const separator = '::';
  return {
    backend: 'redis',
    location,
    adapter: (name) =>
      // @keyv/redis types its client as its own copy of @redis/client's type.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      new KeyvRedis(client as any, {
        namespace: name,
        keyPrefixSeparator: separator,
        throwOnErrors: true,
        throwOnConnectError: true,
      }) as unknown as KeyvStoreAdapter,
    keys: async (name) => {
      const prefix = `${name}${separator}`;
      const keys: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 500 })) {
        for (const key of batch) keys.push(String(key).slice(prefix.length));
      }
      return [...new Set(keys)].sort(); // SCAN may return a key more than once
    },
    purge: async () => {},
    close: async () => {
      if (client.isOpen) await client.close();
    },
  };
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis (unparsable URL)';
  }
}
