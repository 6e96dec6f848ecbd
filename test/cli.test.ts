import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCliArgs } from '../src/cli/cli-args.ts';
import { InputError } from '../src/errors.ts';
import { removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';

after(() => removeTinyBundles());

const base = ['--model', 'm', '--prompt', 'a dog'];
const refusal = (argv: string[]) => {
  try {
    parseCliArgs([...base, ...argv]);
  } catch (err) {
    assert.ok(err instanceof InputError, String(err));
    return err.message;
  }
  assert.fail(`accepted ${argv.join(' ')}`);
};

test('a negative --seed is answered with the range it takes, not "argument is ambiguous"', () => {
  const message = refusal(['--seed', '-1']);
  assert.doesNotMatch(message, /ambiguous/);
  assert.match(message, /seed/i);
  assert.match(refusal(['--cfg', '-2']), /cfg|guidance/i);
});

test('numbers must be plain decimals: hex, binary, exponents and blanks are refused', () => {
  for (const [flag, value] of [['--seed', '0x10'], ['--seed', '0b1'], ['--count', '1e0'], ['--cfg', ' 5'], ['--temperature', '']]) {
    assert.match(refusal([flag, value]), new RegExp(`${flag} must be a decimal number`), `${flag} ${value}`);
  }
  const ok = parseCliArgs([...base, '--seed', '42', '--cfg', '5.5', '--temperature', '.7']);
  assert.ok(ok !== 'help');
  assert.deepEqual([ok.options.seed, ok.options.cfgWeight, ok.options.temperature], [42, 5.5, 0.7]);
});

test('an --out in a folder that does not exist, or that is a folder, exits 2 in one line before the model loads', () => {
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const model = tinyBundle(1);
  const folder = scratchDir('out-folder');
  mkdirSync(join(folder, 'x.png'), { recursive: true });
  for (const [out, expected] of [[join(folder, 'missing', 'x.png'), /is not a folder/], [join(folder, 'x.png'), /it is a folder/]] as const) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, '--model', model, '--prompt', 'a dog', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /loading/, 'the model was not loaded');
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
