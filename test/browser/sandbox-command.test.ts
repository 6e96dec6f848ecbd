import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isFixtureBundle } from '../../src/sandbox/fixture-model.ts';

// `npm run sandbox` as a user runs it: one URL on stdout, the fixture bundle generated once and then reused.
const dataDir = mkdtempSync(join(tmpdir(), 'xcot-sandbox-command-'));

after(() => rmSync(dataDir, { recursive: true, force: true }));

async function runOnce(): Promise<{ stdout: string; stderr: string; world: { fixtureModel: boolean; commands: { name: string }[] } }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/sandbox.ts', '--port', '0', '--data', dataDir], {
    // No XCOT_GRAPH_CACHE: the sandbox keeps the engine's rewritten graphs under its data folder.
    env: { ...process.env, MODEL_DIR: '', LOG_LEVEL: 'silent', XCOT_GRAPH_CACHE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 60 s; stderr: ${stderr}`)), 60_000);
      child.stdout.on('data', (d) => {
        stdout += d;
        const found = /http:\/\/127\.0\.0\.1:\d+\//.exec(stdout);
        if (found) {
          clearTimeout(timer);
          resolve(found[0]);
        }
      });
      child.once('exit', (code) => reject(new Error(`sandbox exited with ${code}: ${stderr}`)));
    });
    const world = (await (await fetch(`${url}api/world`)).json()) as Awaited<ReturnType<typeof runOnce>>['world'];
    // The first member (alice) may manage the server: her picker lists every command.
    world.commands = (await (await fetch(`${url}api/commands?viewer=1500000000000000021`)).json()) as { name: string }[];
    assert.match(await (await fetch(url)).text(), /<script type="module" src="\/app.js">/);
    // Another web page cannot act as a member: no custom header without a preflight, no other host name.
    assert.equal((await fetch(`${url}api/message`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status, 403);
    assert.equal(await statusWithHost(url, 'attacker.example'), 403);
    return { stdout, stderr, world };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

test('npm run sandbox prints one URL, serves the page, keeps its graph cache under --data and reuses the fixture bundle it generated', { timeout: 150_000 }, async () => {
  const first = await runOnce();
  assert.equal(first.stdout.match(/http:\/\//g)?.length, 1, `one URL on stdout: ${first.stdout}`);
  assert.equal(first.world.fixtureModel, true);
  const names = first.world.commands.map((c) => c.name);
  assert.ok(names.includes('personalize') && names.includes('subject'), `the bot registered its commands: ${names.join(', ')}`);
  assert.match(first.stderr, /random-weight test bundle/);
  assert.ok(readdirSync(join(dataDir, 'graph-cache')).length > 0, 'the graph cache is under --data');
  const marker = join(dataDir, 'fixture-model', '.sandbox-fixture-complete');
  const made = statSync(marker).mtimeMs;

  const second = await runOnce();
  assert.equal(second.world.fixtureModel, true);
  assert.equal(statSync(marker).mtimeMs, made, 'the second run used the bundle the first one generated');
});

function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject).end();
  });
}

test('a bundle passed with --model is called a random-weight test model only when it is a generated fixture', () => {
  // Runs after the command test, which generated the fixture under dataDir.
  assert.equal(isFixtureBundle(join(dataDir, 'fixture-model')), true);
  const real = join(dataDir, 'real-like');
  mkdirSync(real);
  writeFileSync(join(real, 'tokenizer.json'), JSON.stringify({ added_tokens: [{ id: 100000, content: '<|begin▁of▁sentence|>' }] }));
  assert.equal(isFixtureBundle(real), false);
  assert.equal(isFixtureBundle(join(dataDir, 'missing')), false);
});
