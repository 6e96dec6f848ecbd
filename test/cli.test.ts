import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCliArgs } from '../src/cli/cli-args.ts';
import { InputError } from '../src/errors.ts';
import { UserTextRules } from '../src/decoding/user-text.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
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

test('an invisible-only prompt, name or context is refused in one line with the bot\'s message before the model loads; the pipeline refuses it too', async () => {
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const model = tinyBundle(1);
  const cases = [
    [['--prompt', '\u200b\u3164'], 'The prompt has no visible characters.'],
    [['--prompt', 'a dog', '--name', '\u2800\u00a0'], 'The name has no visible characters.'],
    [['--prompt', 'a dog', '--context', '\ufeff\u115f'], 'The context has no visible characters.'],
  ] as const;
  for (const [argv, message] of cases) {
    // The bot's own rules give the same message.
    const bot = UserTextRules.fromBundle(model);
    const fields: Record<string, string> = {};
    for (let i = 0; i < argv.length; i += 2) fields[argv[i].slice(2)] = argv[i + 1];
    assert.throws(() => bot.check(fields, { required: ['prompt'] }), { message });
    const r = spawnSync(process.execPath, ['--import', 'tsx', cli, '--model', model, ...argv, '--out', join(scratchDir('invisible'), 'x.png')], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `personalize: ${message}\n`);
  }
  const p = await Personalizer.load(model, { intraOpThreads: 1 });
  try {
    await assert.rejects(p.generate({ prompt: '\u200b\u3164 \u2800' }), { message: 'The prompt has no visible characters.' });
  } finally {
    await p.close();
  }
});

// ---- candidate groups ------------------------------------------------------------------------------

test('--candidates, --scorer and --scorers are checked together, each refusal one line', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCliArgs([...base, '--image', 'a.png', ...argv], env);
  const refused = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      parse(argv, env);
    } catch (err) {
      assert.ok(err instanceof InputError, String(err));
      assert.equal(err.message.split('\n').length, 1);
      return err.message;
    }
    assert.fail(`accepted ${argv.join(' ')}`);
  };
  assert.match(refused(['--candidates', '4', '--scorer', 'dino']), /--scorer dino needs --scorers DIR \(or SCORER_DIR\)/);
  assert.match(refused(['--candidates', '4', '--scorer', 'clip']), /--scorer clip needs --scorers DIR/);
  assert.match(refused(['--candidates', '9']), /candidate count must be 1 to 8/);
  assert.match(refused(['--candidates', '2', '--count', '2']), /cannot be used together/);
  assert.match(refused(['--scorer', 'self']), /add --candidates N/);
  assert.match(refused(['--candidates', '2', '--scorer', 'best']), /--scorer must be dino, clip, self, none/);
  assert.throws(() => parseCliArgs([...base, '--candidates', '2', '--scorer', 'self'], {}), /give --image FILE/);

  const withEnv = parse(['--candidates', '3'], { SCORER_DIR: '/scorers' });
  assert.ok(withEnv !== 'help');
  assert.deepEqual([withEnv.candidates, withEnv.scorer, withEnv.scorerDir], [3, 'dino', '/scorers']);
  const flag = parse(['--candidates', '3', '--scorer', 'clip', '--scorers', '/mine'], { SCORER_DIR: '/scorers' });
  assert.ok(flag !== 'help');
  assert.deepEqual([flag.scorer, flag.scorerDir], ['clip', '/mine']);
  const bare = parse(['--candidates', '2']);
  assert.ok(bare !== 'help');
  assert.deepEqual([bare.scorer, bare.scorerDir], ['none', undefined]);
  const self = parse(['--candidates', '2', '--scorer', 'self'], { SCORER_DIR: '/scorers' });
  assert.ok(self !== 'help');
  assert.deepEqual([self.scorer, self.scorerDir], ['self', undefined]);
});

test('--candidates 3 --scorer dino --json: every candidate with seed, tokens and scores, written best first; a missing scorer folder exits 2 before the model loads', async () => {
  const { writeClipFixture, writeDinoFixture } = await import('../src/generator/scorers/make-scorer-fixtures.ts');
  const { parityPhotos } = await import('./helpers/transformers-reference.ts');
  const { readdirSync, writeFileSync, existsSync } = await import('node:fs');
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const folder = scratchDir('candidates');
  const scorers = join(folder, 'scorers');
  writeDinoFixture(join(scorers, 'dino-vits16'));
  writeClipFixture(join(scorers, 'clip-vit-base-patch32'));
  const [png, jpg] = await parityPhotos();
  writeFileSync(join(folder, 'a.png'), png);
  writeFileSync(join(folder, 'b.jpg'), jpg);
  const out = join(folder, 'out', 'rex.png');
  mkdirSync(join(folder, 'out'));
  const common = ['--import', 'tsx', cli, '--model', tinyBundle(1), '--image', join(folder, 'a.png'), '--image', join(folder, 'b.jpg'), '--prompt', 'a dog on the moon', '--seed', '7', '--out', out];

  const r = spawnSync(process.execPath, [...common, '--candidates', '3', '--scorer', 'dino', '--scorers', scorers, '--json'], { encoding: 'utf8', env: { ...process.env, SCORER_DIR: '' } });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    ranking: { ranked: boolean; scorer: string };
    candidates: { path: string; rank: number; drawn: number; seed: number; imageTokens: number[]; scores: { fidelity: number; alignment: number; rank: number; passes: boolean } }[];
    timings: { scoringMs: number };
  };
  assert.deepEqual([report.ranking.ranked, report.ranking.scorer], [true, 'dino+clip-t']);
  assert.deepEqual(report.candidates.map((c) => c.rank), [1, 2, 3]);
  assert.deepEqual(report.candidates.map((c) => c.seed).sort(), [7, 8, 9]);
  for (const c of report.candidates) {
    assert.equal(c.seed, 7 + c.drawn);
    assert.equal(c.imageTokens.length, 576);
    assert.ok(existsSync(c.path), c.path);
    assert.match(c.path, new RegExp(`rex-rank${c.rank}-f${c.scores.fidelity.toFixed(3)}-a${c.scores.alignment.toFixed(3)}\\.png$`));
  }
  const ranks = report.candidates.map((c) => c.scores.rank);
  assert.deepEqual([...ranks].sort((a, b) => b - a), ranks);
  assert.equal(readdirSync(join(folder, 'out')).length, 3);
  assert.ok(report.timings.scoringMs > 0);

  const missing = spawnSync(process.execPath, [...common, '--candidates', '2', '--scorer', 'clip', '--scorers', join(folder, 'out')], { encoding: 'utf8' });
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, /--scorer clip needs clip-vit-base-patch32\/ in/);
  assert.doesNotMatch(missing.stderr, /loading/);
  assert.equal(missing.stderr.trim().split('\n').length, 1);

  const unranked = spawnSync(process.execPath, [...common, '--candidates', '2', '--json'], { encoding: 'utf8', env: { ...process.env, SCORER_DIR: '' } });
  assert.equal(unranked.status, 0, unranked.stderr);
  const u = JSON.parse(unranked.stdout) as { ranking: { ranked: boolean; reason: string }; candidates: { path: string; rank: null }[] };
  assert.equal(u.ranking.ranked, false);
  assert.match(u.ranking.reason, /no scorer/);
  assert.deepEqual(u.candidates.map((c) => c.path), [join(folder, 'out', 'rex-candidate1.png'), join(folder, 'out', 'rex-candidate2.png')]);
});

// ---- upscale ---------------------------------------------------------------------------------------

test('--upscale DIR writes out-x4.png beside out.png at 4 x 384 px, --json gives its path, size and time; a folder of another model exits 2 before the model loads', async () => {
  const { writeUpscalerFixtures } = await import('../src/generator/upscalers/make-upscaler-fixtures.ts');
  const { writeFileSync, existsSync, readdirSync } = await import('node:fs');
  const sharp = (await import('sharp')).default;
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const folder = scratchDir('upscale');
  const { x4 } = writeUpscalerFixtures(join(folder, 'upscalers'));
  const out = join(folder, 'out', 'rex.png');
  mkdirSync(join(folder, 'out'));
  const common = ['--import', 'tsx', cli, '--model', tinyBundle(1), '--prompt', 'a dog on the moon', '--seed', '7', '--out', out];

  const r = spawnSync(process.execPath, [...common, '--upscale', x4, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { images: { path: string; upscaled: { path: string; width: number; height: number; ms: number; tiles: number } }[]; timings: { upscaleMs: number } };
  const up = report.images[0].upscaled;
  assert.equal(up.path, join(folder, 'out', 'rex-x4.png'));
  assert.deepEqual([up.width, up.height], [1536, 1536]);
  const meta = await sharp(up.path).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1536, 1536]);
  assert.ok(up.ms > 0 && report.timings.upscaleMs === up.ms);
  assert.ok(existsSync(out));

  const notSwin = join(folder, 'not-swin');
  mkdirSync(notSwin);
  writeFileSync(join(notSwin, 'config.json'), JSON.stringify({ model_type: 'vit', architectures: ['ViTModel'] }));
  const bad = spawnSync(process.execPath, [...common.slice(0, -1), join(folder, 'out', 'bad.png'), '--upscale', notSwin], { encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /upscaler .*not-swin: config\.json is not a Swin2SR super-resolution model/);
  assert.doesNotMatch(bad.stderr, /loading/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.deepEqual(readdirSync(join(folder, 'out')).sort(), ['rex-x4.png', 'rex.png']);
});

test('before work the CLI prints one summary line of the bundle (--verbose: the graph detail); --trace shows the test bundle\'s reasoning, labelled random', async () => {
  const { parityPhotos } = await import('./helpers/transformers-reference.ts');
  const { writeFileSync } = await import('node:fs');
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const folder = scratchDir('summary');
  mkdirSync(folder, { recursive: true });
  const [png] = await parityPhotos();
  writeFileSync(join(folder, 'a.png'), png);
  const common = ['--import', 'tsx', cli, '--model', tinyBundle(1), '--image', join(folder, 'a.png'), '--prompt', 'a dog', '--seed', '3', '--out', join(folder, 'out.png'), '--trace'];
  const quiet = spawnSync(process.execPath, common, { encoding: 'utf8' });
  assert.equal(quiet.status, 0, quiet.stderr);
  const bundleLines = quiet.stderr.split('\n').filter((l) => /^\[personalize\] (bundle|graph|language model|sizes|special ids|chat templates|external data) /.test(l));
  assert.equal(bundleLines.length, 1, quiet.stderr);
  assert.match(bundleLines[0], /^\[personalize\] bundle .*: usable on cpu.* \(--verbose for the graph detail\)$/);
  // The grounding streamed to stdout has words, and says it is random text.
  const [trace] = quiet.stdout.split('\n(random-weight test bundle');
  assert.match(trace, /\p{L}{3}/u, quiet.stdout);
  assert.match(quiet.stdout, /\(random-weight test bundle: the grounding above is random text\)/);

  const verbose = spawnSync(process.execPath, [...common, '--verbose'], { encoding: 'utf8' });
  assert.equal(verbose.status, 0, verbose.stderr);
  assert.ok(verbose.stderr.split('\n').filter((l) => l.startsWith('[personalize] graph ')).length >= 5, verbose.stderr);
});
