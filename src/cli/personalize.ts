import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { describeLoadedBundle } from '../pipeline/bundle-report/check-bundle.ts';
import { engineFacts } from '../pipeline/bundle-report/report.ts';
import { reportLines } from '../pipeline/bundle-report/report-lines.ts';
import { InputError, UserFacingError } from '../errors.ts';
import { ImageInputError } from '../images/errors.ts';
import { DEFAULT_IMAGE_LIMITS } from '../images/limits.ts';
import { readHeader } from '../images/load.ts';
import { UserTextRules } from '../decoding/user-text.ts';
import { rankCandidates, type CandidateGroup, type GroupScoring } from '../pipeline/candidate-group.ts';
import { Personalizer, type Generation, type Grounding, type SubjectImages } from '../pipeline/personalizer.ts';
import { selfJudgeScorer } from '../pipeline/self-judge-ranking.ts';
import { embeddingGroupScorer, type GroupScorer } from '../scoring/group-scorer.ts';
import { loadScorers, type LoadedScorers } from '../scoring/load-scorers.ts';
import { encodeImage } from '../images/encode.ts';
import { loadImage } from '../images/load.ts';
import { Upscaler } from '../upscaling/upscaler.ts';
import { candidatePath, outputPaths, parseCliArgs, upscaledPath, USAGE, type CliArgs } from './cli-args.ts';

/** `npm run personalize`: the pipeline from a terminal. Results on stdout, progress on stderr. */
async function main(argv: string[]): Promise<number> {
  const args = parseCliArgs(argv);
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // The bot's text rules with its messages, before anything is read or loaded.
  UserTextRules.fromBundle(args.model).check({ prompt: args.options.prompt, name: args.name, context: args.context }, { required: ['prompt'] });
  const photos = await readPhotos(args.images);
  await checkWritable(args.candidates ? [candidatePath(args.out, { drawn: 0 })] : outputPaths(args.out, args.options.count));
  // Scorers first: a missing folder is reported before the (large) model loads.
  let scorers: LoadedScorers | undefined;
  let embedding: GroupScorer | undefined;
  if (args.scorerDir && (args.scorer === 'dino' || args.scorer === 'clip')) {
    if (!(await stat(args.scorerDir).catch(() => null))?.isDirectory()) throw new InputError('usage', `--scorers ${args.scorerDir} is not a folder.`);
    scorers = await loadScorers(args.scorerDir, { device: args.device === 'cuda' ? 'cuda' : 'cpu' });
    try {
      embedding = embeddingGroupScorer(scorers, args.scorer, args.scorerDir);
    } catch (err) {
      await releaseScorers(scorers);
      throw err;
    }
    progress(args, `scorers ${embedding.name} loaded from ${args.scorerDir}`);
  }
  // The upscaler too: a wrong folder is one line before the model loads.
  let upscaler: Upscaler | undefined;
  if (args.upscaleDir) {
    try {
      upscaler = await Upscaler.load(args.upscaleDir, { device: args.device === 'cuda' ? 'cuda' : 'cpu' });
    } catch (err) {
      if (scorers) await releaseScorers(scorers);
      throw err;
    }
    progress(args, `upscaler x${upscaler.scale} loaded from ${args.upscaleDir}`);
  }
  progress(args, `loading ${args.model}`);
  const personalizer = await Personalizer.load(args.model, {
    device: args.device,
    kv: args.kv,
    dtypes: args.dtypes,
    ...(args.exact ? { matMulAccuracy: 'file' as const } : {}),
    onFallback: (reason) => progress(args, reason),
  });
  try {
    // The same summary as `npm run check-bundle`, with the loaded model's own facts.
    const facts = engineFacts(personalizer.model, personalizer.bundle.graphs);
    const report = reportLines(describeLoadedBundle(args.model, { device: args.device, dtypes: args.dtypes, ...(args.exact ? { matMulAccuracy: 'file' as const } : {}) }, facts));
    // One summary line (and any problem) unless asked for the graph detail.
    const shown = args.verbose ? report : [`${report[0]} (--verbose for the graph detail)`, ...report.filter((l) => /^(error|warning) /.test(l))];
    for (const line of shown) progress(args, line);
    const m = personalizer.model;
    if (m.adapter) progress(args, `WebGPU adapter: ${m.adapter.adapter} (driver ${m.adapter.driver}); KV cache ${m.kvOnDevice ? 'on the device' : `in host memory (${m.kvHostReason})`}`);
    return await run(personalizer, args, photos, embedding, upscaler);
  } finally {
    await personalizer.close();
    if (scorers) await releaseScorers(scorers);
    await upscaler?.release();
  }
}

async function releaseScorers(s: LoadedScorers): Promise<void> {
  await Promise.all([s.dino?.release(), s.clip?.release()]);
}

interface UpscaledFile {
  path: string;
  width: number;
  height: number;
  ms: number;
  tiles: number;
}

/** Writes `path`'s image upscaled beside it (FILE-x4.png), in the original's format. */
async function upscaleFile(upscaler: Upscaler, args: CliArgs, path: string, data: Uint8Array): Promise<UpscaledFile> {
  const out = upscaledPath(path, upscaler.scale);
  progress(args, `upscaling ${path} x${upscaler.scale}`);
  const run = await upscaler.upscale(await loadImage(data), {
    onTile: ({ tile, tiles }) => tiles > 1 && progress(args, `upscale tile ${tile}/${tiles}`),
  });
  const encoded = await encodeImage(run.image.data, run.image.width, run.image.height, { format: args.format });
  await writeAll([out], [encoded]);
  return { path: out, width: run.image.width, height: run.image.height, ms: round(run.ms), tiles: run.tiles };
}

async function run(p: Personalizer, args: CliArgs, photos: { bytes: Uint8Array; name: string }[], embedding?: GroupScorer, upscaler?: Upscaler): Promise<number> {
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
    if (args.trace) {
      const out = args.json ? process.stderr : process.stdout;
      if (!grounding.text) out.write('(the model wrote nothing about the subject: an empty grounding; the image is drawn from the prompt and photos alone)');
      else if (p.bundle.randomWeights) out.write('\n(random-weight test bundle: the grounding above is random text)');
      out.write('\n');
    }
    progress(args, `grounding done in ${(grounding.ms / 1000).toFixed(1)} s`);
  }

  let lastReport = 0;
  const started = performance.now();
  const perCall = args.candidates ?? args.options.count;
  const result = await p.generate({
    ...args.options,
    candidates: args.candidates,
    subject,
    subjectContext: { name: args.name, context: args.context },
    grounding: grounding?.text ?? '',
    format: args.format,
    onStep: (done, total) => {
      const now = performance.now();
      if (done !== total && now - lastReport < 1000) return;
      lastReport = now;
      const rate = (done * perCall) / ((now - started) / 1000);
      progress(args, `generating ${done}/${total} image tokens, ${rate.toFixed(0)} tokens/s`);
    },
  });

  if (args.candidates) return writeGroup(p, args, result, grounding, subject, photos, embedding, upscaler);
  const paths = outputPaths(args.out, result.images.length);
  await writeAll(paths, result.images.map((i) => i.data));
  const upscaled: UpscaledFile[] = [];
  if (upscaler) for (const [i, img] of result.images.entries()) upscaled.push(await upscaleFile(upscaler, args, paths[i], img.data));
  if (args.json) {
    process.stdout.write(`${JSON.stringify({
      grounding: grounding ? { text: grounding.text, ms: round(grounding.ms) } : null,
      images: result.images.map((img, i) => ({ path: paths[i], imageTokens: img.imageTokens, seed: img.seed, ...(upscaler ? { upscaled: upscaled[i] } : {}) })),
      promptIds: promptIds(result, grounding),
      timings: {
        groundingMs: grounding ? round(grounding.ms) : 0,
        imageTokensMs: round(result.timings.tokensMs),
        decodeMs: round(result.timings.decodeMs),
        imageTokensPerSec: round(result.timings.imageTokensPerSec),
        ...(upscaler ? { upscaleMs: round(upscaled.reduce((t, u) => t + u.ms, 0)) } : {}),
      },
      ...deviceFields(p),
    })}\n`);
  } else {
    for (const [i, img] of result.images.entries()) process.stdout.write(`${paths[i]} (seed ${img.seed})\n`);
    for (const u of upscaled) process.stdout.write(`${u.path} (${u.width} x ${u.height}, ${(u.ms / 1000).toFixed(1)} s)\n`);
  }
  return 0;
}

/** Scores the group (or says why not), writes it best first, and reports every candidate. */
async function writeGroup(
  p: Personalizer,
  args: CliArgs,
  result: Generation,
  grounding: Grounding | null,
  subject: SubjectImages | null,
  photos: { bytes: Uint8Array }[],
  embedding?: GroupScorer,
  upscaler?: Upscaler,
): Promise<number> {
  const scorer = args.scorer === 'self' && subject ? selfJudgeScorer((c, prompt) => p.judge(subject, c, prompt)) : embedding;
  const scoring: GroupScoring = scorer
    ? { scorer, subjectPhotos: photos.map((ph) => ph.bytes), prompt: args.options.prompt }
    : { unranked: args.scorerDir ? '--scorer none' : 'no scorer: give --scorer self, or --scorers DIR (or SCORER_DIR) for dino / clip' };
  if (scorer) progress(args, `scoring ${result.images.length} candidates with ${scorer.name}`);
  const group: CandidateGroup = await rankCandidates(result.images, scoring);
  if (!group.ranked) progress(args, `candidates unranked: ${group.reason}`);
  const paths = group.candidates.map((c) => candidatePath(args.out, c));
  await writeAll(paths, group.candidates.map((c) => c.data));
  const upscaled = upscaler ? await upscaleFile(upscaler, args, paths[0], group.candidates[0].data) : undefined;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({
      grounding: grounding ? { text: grounding.text, ms: round(grounding.ms) } : null,
      ranking: { ranked: group.ranked, scorer: group.scorer, reason: group.reason, photoAlignment: group.photoAlignment },
      candidates: group.candidates.map((c, i) => ({ path: paths[i], rank: c.rank ?? null, drawn: c.drawn, seed: c.seed, scores: c.scores ?? null, imageTokens: c.imageTokens, ...(i === 0 && upscaled ? { upscaled } : {}) })),
      promptIds: promptIds(result, grounding),
      timings: {
        groundingMs: grounding ? round(grounding.ms) : 0,
        imageTokensMs: round(result.timings.tokensMs),
        decodeMs: round(result.timings.decodeMs),
        scoringMs: round(group.scoringMs),
        imageTokensPerSec: round(result.timings.imageTokensPerSec),
        ...(upscaled ? { upscaleMs: upscaled.ms } : {}),
      },
      ...deviceFields(p),
    })}\n`);
  } else {
    for (const [i, c] of group.candidates.entries()) {
      const s = c.scores ? `, fidelity ${c.scores.fidelity.toFixed(3)}, alignment ${c.scores.alignment.toFixed(3)}${c.scores.passes ? '' : ', fails the prompt gate'}` : '';
      process.stdout.write(`${paths[i]} (seed ${c.seed}${s})\n`);
    }
    if (group.candidates.some((c) => c.scores && !c.scores.passes)) process.stdout.write(`${gateNote(group.scorer)}\n`);
    if (upscaled) process.stdout.write(`${upscaled.path} (${upscaled.width} x ${upscaled.height}, ${(upscaled.ms / 1000).toFixed(1)} s)\n`);
  }
  return 0;
}

/** What "fails the prompt gate" means for the scorer that said it (src/scoring/ranking.ts, self-judge-ranking.ts). */
function gateNote(scorer: string | null): string {
  const rule = scorer === 'self'
    ? 'the model itself, asked whether the picture shows the prompt, said yes with probability under 0.5, or no more readily than for the subject photos alone (so a copy of a photo never passes)'
    : 'its prompt alignment (CLIP text-image cosine) is under 0.2, or not above the subject photos\' own, or it is a near copy of one photo';
  return `fails the prompt gate: ${rule}; such a candidate is ranked below every one that passes, whatever its fidelity.`;
}

/** The token ids of each prompt row the model ran: cond, uncond (with guidance), grounding (with photos). */
function promptIds(result: Generation, grounding: Grounding | null): Record<string, number[]> {
  const rows = result.promptIds;
  return { ...(rows ? { cond: rows.cond, ...(rows.uncond ? { uncond: rows.uncond } : {}) } : {}), ...(grounding ? { grounding: grounding.promptIds } : {}) };
}

/** --json's device facts: the provider in use, the WebGPU adapter and driver, where the KV cache lives. */
function deviceFields(p: Personalizer): { device: string; adapter: string | null; driver: string | null; kv: 'host' | 'device' } {
  const m = p.model;
  return { device: p.device, adapter: m.adapter?.adapter ?? null, driver: m.adapter?.driver ?? null, kv: m.kvOnDevice ? 'device' : 'host' };
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
