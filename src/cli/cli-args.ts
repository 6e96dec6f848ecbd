import { parseArgs } from 'node:util';
import { extname } from 'node:path';
import { isGraphDtype } from '../bundle/load-bundle.ts';
import { GRAPH_NAMES, type GraphDtype, type GraphName } from '../bundle/contract.ts';
import { InputError } from '../errors.ts';
import type { OutputFormat } from '../images/encode.ts';
import { CandidatesSchema, GenerateOptionsSchema, parseOrThrow, SubjectContextSchema, type GenerateOptions } from '../request-options.ts';
import { SCORER_KINDS, type ScorerKind } from '../scoring/group-scorer.ts';
import { defaultScorer, DEVICES, isEmbeddingScorer, type Device } from '../model-kinds.ts';
import { firstLine } from '../util/first-line.ts';

export const USAGE = `Usage: npm run personalize -- --model DIR --prompt TEXT [--image FILE ...] [--name TEXT]
         [--context TEXT] [--seed N] [--cfg X] [--temperature T] [--top-k K] [--greedy]
         [--uncond janus|transformers-js] [--count N] [--trace] [--out FILE] [--json] [--verbose] [--debug]
         [--device cpu|cuda|webgpu] [--kv host|device] [--dtype GRAPH=DTYPE ...] [--exact]
         [--candidates N [--scorer dino|clip|self|none] [--scorers DIR]] [--upscale DIR]
With --image: MM-R1 X-CoT (grounding, then generation). Without: plain text-to-image.
--out FILE.png or FILE.webp (default out.png); with --count N > 1, FILE-1.png ... FILE-N.png.
--candidates N (1-8): a group drawn in one batch, scored and written best first as
FILE-rank1-f0.712-a0.301.png ... (unranked: FILE-candidate1.png ...). --scorer dino or clip
needs --scorers DIR (or SCORER_DIR) holding dino-vits16/ and clip-vit-base-patch32/;
self asks the bundle itself (no download). Default: dino with a scorers folder, else none.
--upscale DIR: also write each image (the best candidate of a group) upscaled by the Swin2SR
folder DIR (Xenova/swin2SR-realworld-sr-x4-64-bsrgan-psnr's layout): FILE-x4.png beside FILE.png.
--device webgpu: ONNX Runtime's WebGPU provider (Vulkan; falls back to CPU with the reason when no
adapter is found). --kv: where the KV cache lives on webgpu (device by default; host for checking).
--exact runs a 4-bit language model at its file's own MatMulNBits accuracy level (default on CPU:
the fastest level measured correct on this machine).`;

export interface CliArgs {
  model: string;
  images: string[];
  name?: string;
  context?: string;
  options: GenerateOptions;
  trace: boolean;
  out: string;
  format: OutputFormat;
  json: boolean;
  debug: boolean;
  /** The bundle report in full before work (default: its summary line and any problems). */
  verbose: boolean;
  device: Device;
  /** Where the KV cache lives on webgpu. */
  kv: 'host' | 'device';
  dtypes: Partial<Record<GraphName, GraphDtype>>;
  /** Run 4-bit layers at the file's own accuracy level. */
  exact: boolean;
  /** A group to draw and rank instead of `count` images. */
  candidates?: number;
  scorer: ScorerKind;
  /** Where the embedding scorers are (--scorers, else SCORER_DIR). */
  scorerDir?: string;
  /** A Swin2SR folder: each written image is also upscaled (FILE-x4.png). */
  upscaleDir?: string;
}

/** Parses and checks every flag before anything heavy runs. Throws InputError with one line. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliArgs | 'help' {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      options: {
        model: { type: 'string' },
        image: { type: 'string', multiple: true },
        prompt: { type: 'string' },
        name: { type: 'string' },
        context: { type: 'string' },
        seed: { type: 'string' },
        cfg: { type: 'string' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        greedy: { type: 'boolean' },
        uncond: { type: 'string' },
        count: { type: 'string' },
        trace: { type: 'boolean' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        debug: { type: 'boolean' },
        verbose: { type: 'boolean' },
        device: { type: 'string' },
        kv: { type: 'string' },
        dtype: { type: 'string', multiple: true },
        exact: { type: 'boolean' },
        candidates: { type: 'string' },
        scorer: { type: 'string' },
        scorers: { type: 'string' },
        upscale: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new InputError('usage', firstLine(err));
  }
  if (values.help) return 'help';
  if (typeof values.model !== 'string') throw new InputError('usage', '--model DIR is required.');
  if (typeof values.prompt !== 'string') throw new InputError('usage', '--prompt TEXT is required.');

  const options = parseOrThrow(GenerateOptionsSchema, {
    prompt: values.prompt,
    seed: num(values.seed, '--seed'),
    cfgWeight: num(values.cfg, '--cfg'),
    temperature: num(values.temperature, '--temperature'),
    topK: num(values['top-k'], '--top-k'),
    greedy: values.greedy === true,
    uncond: values.uncond,
    count: num(values.count, '--count'),
  });
  const subject = parseOrThrow(SubjectContextSchema, { name: values.name, context: values.context });

  const out = typeof values.out === 'string' ? values.out : 'out.png';
  const ext = extname(out).toLowerCase();
  if (ext !== '.png' && ext !== '.webp') throw new InputError('usage', '--out must end in .png or .webp.');

  const device = values.device ?? 'cpu';
  if (!DEVICES.includes(device as Device)) throw new InputError('usage', '--device must be cpu, cuda or webgpu.');
  const kv = values.kv ?? 'device';
  if (kv !== 'host' && kv !== 'device') throw new InputError('usage', '--kv must be host or device.');
  if (values.kv !== undefined && device !== 'webgpu') throw new InputError('usage', '--kv applies to --device webgpu only.');
  const images = (values.image as string[] | undefined) ?? [];
  const group = parseGroup(values, images.length, env);

  return {
    model: values.model,
    images,
    name: subject.name,
    context: subject.context,
    options,
    trace: values.trace === true,
    out,
    format: ext === '.webp' ? 'webp' : 'png',
    json: values.json === true,
    debug: values.debug === true,
    verbose: values.verbose === true,
    device: device as Device,
    kv,
    dtypes: parseDtypes((values.dtype as string[] | undefined) ?? []),
    ...(typeof values.upscale === 'string' ? { upscaleDir: values.upscale } : {}),
    exact: values.exact === true,
    ...group,
  };
}

/** --candidates, --scorer and --scorers, checked together (each refusal one line, before any model loads). */
function parseGroup(values: Record<string, unknown>, photos: number, env: NodeJS.ProcessEnv): Pick<CliArgs, 'candidates' | 'scorer' | 'scorerDir'> {
  const scorerDir = typeof values.scorers === 'string' ? values.scorers : env.SCORER_DIR || undefined;
  if (values.candidates === undefined) {
    if (values.scorer !== undefined || values.scorers !== undefined) throw new InputError('usage', '--scorer and --scorers rank a group: add --candidates N.');
    return { scorer: 'none' };
  }
  if (values.count !== undefined) throw new InputError('usage', '--candidates and --count cannot be used together (a group is written best first instead).');
  const candidates = parseOrThrow(CandidatesSchema, num(values.candidates, '--candidates'));
  const scorer = (values.scorer ?? defaultScorer(scorerDir)) as ScorerKind;
  if (!SCORER_KINDS.includes(scorer)) throw new InputError('usage', `--scorer must be ${SCORER_KINDS.join(', ')}; got "${String(values.scorer)}".`);
  if (isEmbeddingScorer(scorer) && !scorerDir) {
    throw new InputError('usage', `--scorer ${scorer} needs --scorers DIR (or SCORER_DIR): a folder with dino-vits16/ and clip-vit-base-patch32/ (transformers.js' Xenova models).`);
  }
  if (scorer !== 'none' && photos === 0) throw new InputError('usage', `--scorer ${scorer} compares candidates with the subject photos: give --image FILE.`);
  return { candidates, scorer, scorerDir: isEmbeddingScorer(scorer) ? scorerDir : undefined };
}

/** A candidate's file: rank and scores in the name when ranked, its drawing place otherwise. */
export function candidatePath(out: string, c: { drawn: number; rank?: number; scores?: { fidelity: number; alignment: number } }): string {
  const ext = extname(out);
  const stem = out.slice(0, out.length - ext.length);
  if (c.rank === undefined || !c.scores) return `${stem}-candidate${c.drawn + 1}${ext}`;
  return `${stem}-rank${c.rank}-f${c.scores.fidelity.toFixed(3)}-a${c.scores.alignment.toFixed(3)}${ext}`;
}

/** Flags whose value is a number, possibly negative (then out of range, and said so). */
const NUMBER_FLAGS = new Set(['--seed', '--cfg', '--temperature', '--top-k', '--count', '--candidates']);

/**
 * `--seed -1` as `--seed=-1`: parseArgs would take "-1" for an option and answer "argument is
 * ambiguous"; the range check then says what the flag takes.
 */
export function joinNegativeValues(argv: readonly string[], numberFlags: ReadonlySet<string> = NUMBER_FLAGS): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (numberFlags.has(argv[i]) && /^-[\d.]/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

/** Plain decimal notation only: Number() would also take "0x10", "0b1", "1e3" and " 5 ". */
const DECIMAL = /^[-+]?(\d+(\.\d*)?|\.\d+)$/;

function num(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw new InputError('usage', `${flag} must be a decimal number, got "${String(value)}".`);
  }
  return Number(value);
}

function parseDtypes(entries: string[]): Partial<Record<GraphName, GraphDtype>> {
  const out: Partial<Record<GraphName, GraphDtype>> = {};
  for (const entry of entries) {
    const [graph, dtype] = entry.split('=');
    if (!(GRAPH_NAMES as readonly string[]).includes(graph) || !dtype || !isGraphDtype(dtype)) {
      throw new InputError('usage', `--dtype takes GRAPH=DTYPE (graphs: ${GRAPH_NAMES.join(', ')}; dtypes: fp32, fp16, q8, q4, q4f16, ...), got "${entry}".`);
    }
    out[graph as GraphName] = dtype;
  }
  return out;
}

/** Where an image's upscaled copy goes: FILE-x4.png beside FILE.png (same format). */
export function upscaledPath(path: string, scale: number): string {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}-x${scale}${ext}`;
}

/** Output paths: FILE for one image, FILE-1 ... FILE-N otherwise. */
export function outputPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const ext = extname(out);
  const stem = out.slice(0, out.length - ext.length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${ext}`);
}
