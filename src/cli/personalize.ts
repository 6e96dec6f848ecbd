import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { describeLoadedBundle, engineFacts, reportLines } from '../pipeline/bundle-report.ts';
import { InputError, UserFacingError } from '../errors.ts';
import { ImageInputError } from '../images/errors.ts';
import { DEFAULT_IMAGE_LIMITS } from '../images/limits.ts';
import { readHeader } from '../images/load.ts';
import { Personalizer, type Grounding } from '../pipeline/personalizer.ts';
import { outputPaths, parseCliArgs, USAGE, type CliArgs } from './cli-args.ts';

/** `npm run personalize`: the pipeline from a terminal. Results on stdout, progress on stderr. */
async function main(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const photos = await readPhotos(args.images);
  await checkWritable(outputPaths(args.out, args.options.count));
  progress(args, `loading ${args.model}`);
  const personalizer = await Personalizer.load(args.model, {
    device: args.device,
    dtypes: args.dtypes,
    onFallback: (reason) => progress(args, reason),
  });
  try {
    // The same summary as `npm run check-bundle`, with the loaded model's own facts.
    const facts = engineFacts(personalizer.model, personalizer.bundle.graphs);
    for (const line of reportLines(describeLoadedBundle(args.model, { device: args.device, dtypes: args.dtypes }, facts))) progress(args, line);
    return await run(personalizer, args, photos);
  } finally {
    await personalizer.close();
  }
}

async function run(p: Personalizer, args: CliArgs, photos: { bytes: Uint8Array; name: string }[]): Promise<number> {
  const subject = photos.length ? await p.prepareImages(photos) : null;
  let grounding: Grounding | null = null;
  if (subject) {
    progress(args, `grounding ${photos.length} photo(s)`);
    let shown = 0;
    grounding = await p.ground(subject, { name: args.name, context: args.context }, {
      onText: args.trace
        ? (text) => {
            (args.json ? process.stderr : process.stdout).write(text.slice(shown));
            shown = text.length;
          }
        : undefined,
    });
    if (args.trace) (args.json ? process.stderr : process.stdout).write('\n');
    progress(args, `grounding done in ${(grounding.ms / 1000).toFixed(1)} s`);
  }

  let lastReport = 0;
  const started = performance.now();
  const result = await p.generate({
    ...args.options,
    subject,
    subjectContext: { name: args.name, context: args.context },
    grounding: grounding?.text ?? '',
    format: args.format,
    onStep: (done, total) => {
      const now = performance.now();
      if (done !== total && now - lastReport < 1000) return;
      lastReport = now;
      const rate = (done * args.options.count) / ((now - started) / 1000);
      progress(args, `generating ${done}/${total} image tokens, ${rate.toFixed(0)} tokens/s`);
    },
  });

  const paths = outputPaths(args.out, result.images.length);
  await writeAll(paths, result.images.map((i) => i.data));
  if (args.json) {
    process.stdout.write(`${JSON.stringify({
      grounding: grounding ? { text: grounding.text, ms: round(grounding.ms) } : null,
      images: result.images.map((img, i) => ({ path: paths[i], imageTokens: img.imageTokens, seed: img.seed })),
      timings: {
        groundingMs: grounding ? round(grounding.ms) : 0,
        imageTokensMs: round(result.timings.tokensMs),
        decodeMs: round(result.timings.decodeMs),
        imageTokensPerSec: round(result.timings.imageTokensPerSec),
      },
      device: p.device,
    })}\n`);
  } else {
    for (const [i, img] of result.images.entries()) process.stdout.write(`${paths[i]} (seed ${img.seed})\n`);
  }
  return 0;
}

async function readPhotos(files: string[]): Promise<{ bytes: Uint8Array; name: string }[]> {
  const out: { bytes: Uint8Array; name: string }[] = [];
  for (const file of files) {
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) throw new ImageInputError('empty', `Cannot read image ${file}: no such file.`);
    // Checked before reading, so a huge file is never loaded into memory.
    if (info.size > DEFAULT_IMAGE_LIMITS.maxBytes) {
      throw new ImageInputError('too_large', `${basename(file)} is larger than ${DEFAULT_IMAGE_LIMITS.maxBytes / 1024 / 1024} MiB.`);
    }
    const bytes = await readFile(file);
    // Header checks (format, pixel count) before the model loads, so bad input fails fast.
    await readHeader(bytes, { name: basename(file) });
    out.push({ bytes, name: basename(file) });
  }
  return out;
}

/** Fails before the model loads when an output cannot be written (no folder, no permission, a folder in the way). */
async function checkWritable(paths: string[]): Promise<void> {
  for (const path of paths) {
    const folder = dirname(path);
    const info = await stat(folder).catch(() => null);
    if (!info?.isDirectory()) throw new InputError('usage', `Cannot write ${path}: ${folder} is not a folder.`);
    if ((await stat(path).catch(() => null))?.isDirectory()) throw new InputError('usage', `Cannot write ${path}: it is a folder.`);
    try {
      await access(folder, constants.W_OK);
    } catch {
      throw new InputError('usage', `Cannot write ${path}: no permission to write in ${folder}.`);
    }
  }
}

/** Writes every file under a temporary name first, so a failure leaves no partial output. */
async function writeAll(paths: string[], data: Buffer[]): Promise<void> {
  const temps = paths.map((p) => `${p}.partial-${process.pid}`);
  try {
    await Promise.all(temps.map((t, i) => writeFile(t, data[i])));
    await Promise.all(temps.map((t, i) => rename(t, paths[i])));
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw err;
  }
}

function progress(args: CliArgs, message: string): void {
  process.stderr.write(`[personalize] ${message}\n`);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

const debug = process.argv.includes('--debug');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UserFacingError) {
      const hint = err.code === 'usage' ? ' (see --help)' : '';
      process.stderr.write(`personalize: ${err.message}${hint}\n`);
      if (debug) process.stderr.write(`${err.stack}\n`);
      process.exit(2);
    }
    process.stderr.write(debug ? `${(err as Error)?.stack ?? err}\n` : `personalize: internal error: ${(err as Error)?.message ?? err} (run with --debug for details)\n`);
    process.exit(1);
  },
);
