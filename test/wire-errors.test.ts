import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromWireError, MAIN_THREAD_ERROR_CLASSES, toWireError, WORKER_ERROR_CLASSES, type WireError, type WorkerErrorClassName } from '../src/runtime/wire-error.ts';
import { BundleError, CancelledError, InputError, UserFacingError } from '../src/errors.ts';
import { ImageInputError } from '../src/images/errors.ts';
import { JobTimeoutError, QueueClosedError, QueueFullError } from '../src/jobs/in-process/job-queue.ts';
import { QuotaExceededError } from '../src/jobs/quota.ts';
import { isStoreOutage, StoreUnavailableError } from '../src/store/store-outage.ts';
import { INTERNAL_ERROR_MESSAGE, userMessage } from '../src/bot/reply-errors.ts';
import type { Logger } from 'pino';
import { EngineClosedError, EngineCrashedError, EngineStuckError } from '../src/runtime/engine-errors.ts';

/** As the error crosses the worker boundary: structured clone of its wire form. */
const across = (err: unknown) => fromWireError(structuredClone(toWireError(err)));
/** As it crosses between processes (a model worker's failedReason in Redis): JSON of its wire form. */
const asJson = (err: unknown) => fromWireError(JSON.parse(JSON.stringify(toWireError(err))) as WireError);

type Registered = typeof WORKER_ERROR_CLASSES;

/** One instance of each registered class; a class added to the registry without one here does not compile. */
const SAMPLES: { [K in WorkerErrorClassName]: () => InstanceType<Registered[K]> } = {
  UserFacingError: () => new UserFacingError('engine_crashed', 'Something odd.'),
  InputError: () => new InputError('prompt_too_long', 'That prompt is too long.'),
  ImageInputError: () => new ImageInputError('pixel_limit', 'photo.png has too many pixels.'),
  BundleError: () => new BundleError('graph_missing', 'The bundle has no language model.'),
  CancelledError: () => new CancelledError(),
  EngineCrashedError: () => new EngineCrashedError(),
  EngineStuckError: () => new EngineStuckError(),
  EngineClosedError: () => new EngineClosedError(),
  QueueFullError: () => new QueueFullError('guild', 'This server has too many images waiting.'),
  QueueClosedError: () => new QueueClosedError(),
  JobTimeoutError: () => new JobTimeoutError(5000),
  StoreUnavailableError: () => new StoreUnavailableError(),
};

type ErrorClass = abstract new (...args: never[]) => Error;

/** Every class that `cls`'s instances are instances of, up to and including UserFacingError. */
function classChain(cls: ErrorClass): ErrorClass[] {
  const out: ErrorClass[] = [];
  for (let c: ErrorClass | null = cls; c && c !== Error; c = Object.getPrototypeOf(c) as ErrorClass | null) out.push(c);
  return out;
}

test('every registered user-facing class comes back from a worker as the same class, with name, code, message and fields', () => {
  for (const name of Object.keys(SAMPLES) as WorkerErrorClassName[]) {
    const original = SAMPLES[name]();
    const cls = WORKER_ERROR_CLASSES[name];
    assert.equal(cls.name, name, `the registry lists ${cls.name} under ${name}`);
    assert.equal(original.constructor, cls, `the sample for ${name} is a ${original.constructor.name}`);
    for (const back of [across(original), asJson(original)]) {
      for (const c of classChain(cls)) assert.ok(back instanceof c, `${name} came back as ${back.constructor.name}, not an instance of ${c.name}`);
      assert.equal(back.constructor, cls);
      assert.deepEqual([back.name, (back as UserFacingError).code, back.message], [original.name, original.code, original.message]);
      assert.deepEqual({ ...back }, { ...original }, `${name}: own fields`);
    }
  }
  const full = across(new QueueFullError('user', 'You already have 2 images waiting.'));
  assert.ok(full instanceof QueueFullError && full.limit === 'user', 'fields such as QueueFullError.limit are kept');
});

/** `class X extends Y` in every .ts file under src/ (but src/local-discord: Discord's errors), commands/ and scripts/. */
function declaredClasses(): { name: string; parent: string; file: string }[] {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const out: { name: string; parent: string; file: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (relative(root, path) !== join('src', 'local-discord') && entry.name !== 'node_modules') walk(path);
      } else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\bclass\s+(\w+)(?:\s*<[^>{]*>)?\s+extends\s+(\w+)/g)) {
          out.push({ name: m[1], parent: m[2], file: relative(root, path) });
        }
      }
    }
  };
  for (const dir of ['src', 'commands', 'scripts']) walk(join(root, dir));
  return out;
}

test('every UserFacingError subclass in the code base is registered for the worker boundary, or marked main-thread only', () => {
  const classes = declaredClasses();
  const parentOf = new Map(classes.map((c) => [c.name, c.parent]));
  const isUserFacing = (name: string): boolean => {
    for (let n: string | undefined = name, depth = 0; n && depth < 20; n = parentOf.get(n), depth++) if (n === 'UserFacingError') return true;
    return false;
  };
  const userFacing = classes.filter((c) => isUserFacing(c.name));
  assert.ok(userFacing.length >= Object.keys(WORKER_ERROR_CLASSES).length, 'the source scan found the user-facing classes');
  const registered = new Set<string>(Object.keys(WORKER_ERROR_CLASSES));
  const mainOnly = new Set(MAIN_THREAD_ERROR_CLASSES);
  const missing = userFacing.filter((c) => !registered.has(c.name) && !mainOnly.has(c.name)).map((c) => `${c.name} (${c.file})`);
  assert.deepEqual(missing, [], 'export these classes and add them to WORKER_ERROR_CLASSES in src/runtime/wire-error.ts (or, if no worker can throw them, to MAIN_THREAD_ERROR_CLASSES)');
  for (const name of [...registered, ...mainOnly]) assert.ok(userFacing.some((c) => c.name === name), `${name} is listed but no user-facing class of that name was found`);
  for (const name of mainOnly) assert.ok(!registered.has(name), `${name} is listed twice`);
  // Names must be unique, or the registry's by-name lookup could rebuild the wrong class.
  const names = userFacing.map((c) => c.name);
  assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'two user-facing classes share a name');
});

test('a main-thread-only class that crosses anyway arrives as its nearest registered class, with its name, code and fields', () => {
  const original = new QuotaExceededError(1_700_000_000_000, 'You have made 10 images this hour; try again later.');
  const back = across(original);
  assert.ok(back instanceof InputError && !(back instanceof QuotaExceededError));
  assert.deepEqual([back.name, back.code, back.message, (back as unknown as QuotaExceededError).retryAt], ['QuotaExceededError', 'quota', original.message, original.retryAt]);
});

test('a user-facing class the registry does not know arrives as its nearest known class (at worst UserFacingError), keeping name and code', () => {
  class UnlistedError extends UserFacingError {
    constructor() {
      super('timeout', 'Took too long.');
    }
  }
  const back = across(new UnlistedError());
  assert.ok(back instanceof UserFacingError && back.constructor === UserFacingError);
  assert.deepEqual([back.name, (back as UserFacingError).code, back.message], ['UnlistedError', 'timeout', 'Took too long.']);
  assert.ok(across(new ImageInputError('corrupt', 'x')) instanceof InputError, 'the class chain is kept');
});

test('the older wire form (no class list, no fields) is still read: by its name', () => {
  const old = JSON.parse(JSON.stringify({ name: 'ImageInputError', message: 'photo.png is empty.', code: 'empty', userFacing: true })) as WireError;
  const back = fromWireError(old);
  assert.ok(back instanceof ImageInputError);
  assert.deepEqual([back.name, back.code, back.message], ['ImageInputError', 'empty', 'photo.png is empty.']);
});

test('other errors arrive as plain Errors with their name, code and the worker stack appended', () => {
  const original = Object.assign(new RangeError('index out of range'), { code: 'ERR_OUT_OF_RANGE' });
  const back = across(original);
  assert.ok(!(back instanceof UserFacingError));
  assert.deepEqual([back.name, (back as Error & { code?: string }).code, back.message], ['RangeError', 'ERR_OUT_OF_RANGE', 'index out of range']);
  assert.match(back.stack ?? '', /--- in the engine worker ---/);
});

test('a store outage is told by its typed code, across the boundary and in the reply: the outage line, never "gone"', () => {
  const outage = new StoreUnavailableError().message;
  const wire = toWireError(new StoreUnavailableError());
  assert.ok(wire.userFacing);
  // Rebuilt as its class, and as a bare UserFacingError (a class this side did not know): both by code.
  const rebuilt = [across(new StoreUnavailableError()), fromWireError({ ...wire, classes: ['UserFacingError'] })];
  assert.ok(rebuilt[0] instanceof StoreUnavailableError && !(rebuilt[1] instanceof StoreUnavailableError));
  const warned: string[] = [];
  const logger = { warn: (_: unknown, msg: string) => warned.push(msg), error: (_: unknown, msg: string) => warned.push(`error: ${msg}`) } as unknown as Logger;
  for (const err of rebuilt) {
    assert.ok(isStoreOutage(err));
    assert.ok(isStoreOutage(Object.assign(new Error('saving the job failed'), { cause: err })), 'an outage under another error');
    assert.equal(userMessage(err, logger, {}), outage);
  }
  // The store's own errors (here the disk, under a wrapper) get the same line.
  assert.equal(userMessage(Object.assign(new Error('write failed'), { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) }), logger, {}), outage);
  assert.deepEqual(warned, ['store unavailable', 'store unavailable', 'store unavailable'], 'outages are logged as outages, not as bugs');
  // Other user-facing errors are not outages, whatever their code or message; a bug stays a bug.
  const gone = new InputError('subject_gone', 'That subject is no longer available (deleted or unshared).');
  assert.ok(!isStoreOutage(gone) && !isStoreOutage(new InputError('too_large', 'The client is closed.')));
  assert.equal(userMessage(gone, logger, {}), gone.message);
  assert.equal(userMessage(new TypeError('x is undefined'), logger, {}), INTERNAL_ERROR_MESSAGE);
});

test('an error code is one of ours: a misspelt code does not compile', () => {
  // Type-level checks: tsc -p . fails if any of these lines stops being an error.
  // @ts-expect-error 'engine_crash' is not an ErrorCode
  void (() => new UserFacingError('engine_crash', 'x'));
  // @ts-expect-error an InputError cannot carry a service code
  void (() => new InputError('engine_crashed', 'x'));
  // @ts-expect-error a BundleError cannot carry an input code
  void (() => new BundleError('usage', 'x'));
  const check = (err: UserFacingError): boolean =>
    // @ts-expect-error comparing a code with a string that is not an ErrorCode
    err.code === 'queue_ful';
  void check;
});
