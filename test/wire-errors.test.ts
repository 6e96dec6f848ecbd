import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromWireError, toWireError } from '../src/runtime/protocol.ts';
import { BundleError, CancelledError, InputError, UserFacingError } from '../src/errors.ts';
import { ImageInputError } from '../src/images/errors.ts';
import { JobTimeoutError } from '../src/jobs/job-queue.ts';

/** As the error crosses the worker boundary: structured clone of its wire form. */
const across = (err: unknown) => fromWireError(structuredClone(toWireError(err)));

test('user-facing errors thrown in a worker come back as the same class, with name, code and message', () => {
  const cases: [UserFacingError, abstract new (...args: never[]) => UserFacingError][] = [
    [new UserFacingError('odd', 'Something odd.'), UserFacingError],
    [new InputError('prompt_too_long', 'That prompt is too long.'), InputError],
    [new ImageInputError('pixel_limit', 'photo.png has too many pixels.'), ImageInputError],
    [new BundleError('graph_missing', 'The bundle has no language model.'), BundleError],
    [new CancelledError(), CancelledError],
  ];
  for (const [original, cls] of cases) {
    const back = across(original);
    assert.ok(back instanceof cls, `${original.name} came back as ${back.constructor.name}`);
    assert.ok(back instanceof UserFacingError);
    assert.deepEqual([back.name, (back as UserFacingError).code, back.message], [original.name, original.code, original.message]);
  }
  assert.ok(across(new ImageInputError('corrupt', 'x')) instanceof InputError, 'the class chain is kept');
});

test('a user-facing class the registry does not list arrives as a UserFacingError that keeps its name and code', () => {
  const back = across(new JobTimeoutError(5000));
  assert.ok(back instanceof UserFacingError);
  assert.deepEqual([back.name, (back as UserFacingError).code], ['JobTimeoutError', 'timeout']);
});

test('other errors arrive as plain Errors with their name, code and the worker stack appended', () => {
  const original = Object.assign(new RangeError('index out of range'), { code: 'ERR_OUT_OF_RANGE' });
  const back = across(original);
  assert.ok(!(back instanceof UserFacingError));
  assert.deepEqual([back.name, (back as Error & { code?: string }).code, back.message], ['RangeError', 'ERR_OUT_OF_RANGE', 'index out of range']);
  assert.match(back.stack ?? '', /--- in the engine worker ---/);
});
