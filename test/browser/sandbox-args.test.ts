import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

// `npm run sandbox` refuses bad arguments in one line with its usage, before starting anything.
const REPO = new URL('../../', import.meta.url).pathname;

function sandbox(...args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sandbox.ts', ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

for (const port of ['70000', '0x10', '1e3', '-1', '']) {
  test(`--port ${JSON.stringify(port)} is refused with exit code 2 and nothing is started`, () => {
    const r = sandbox('--port', port);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /^--port must be a whole number from 0 to 65535\nUsage: npm run sandbox/);
    assert.doesNotMatch(r.stdout, /Sandbox ready/);
  });
}

test('an unknown option is refused with exit code 2 and the usage', () => {
  const r = sandbox('--bogus');
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /Unknown option '--bogus'/);
  assert.match(r.stderr, /Usage: npm run sandbox/);
});

test('a --model folder that is not a bundle ends with one line naming the problem, exit code 1', () => {
  const r = sandbox('--model', '/nonexistent-bundle', '--data', '/tmp/xcot-sandbox-args');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^sandbox: Model bundle \/nonexistent-bundle is missing/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
