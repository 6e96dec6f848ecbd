import { parseArgs } from 'node:util';
import { InputError } from '../errors.ts';
import { CandidatesSchema, parseOrThrow } from '../request-options.ts';
import { SCORER_KINDS, type ScorerKind } from '../scoring/group-scorer.ts';
import type { Device } from '../model-kinds.ts';
import { firstLine } from '../util/first-line.ts';

export const EVALUATE_USAGE = `Usage: npm run evaluate -- --set DIR --model DIR --scorers DIR [--candidates N] [--out DIR]
         [--scorer dino|clip|self|none] [--prompts N] [--seed N] [--unique-token TEXT] [--device cpu|cuda]
DIR of --set is laid out as google/dreambooth's dataset/ (a folder of photos per subject and
prompts_and_classes.txt). --scorers holds dino-vits16/ and clip-vit-base-patch32/ (the metrics, and
the reranker unless --scorer self). Draws N candidates (4) per prompt, reranks them with --scorer
(dino), and writes per-result files, progress.log, table.md and contact-sheet.png to --out
(eval-out). Run again with the same --out to resume.`;

export interface EvaluateArgs {
  set: string;
  model: string;
  scorers: string;
  out: string;
  candidates: number;
  scorer: ScorerKind;
  /** Only the first N prompts of each subject (all when absent). */
  prompts?: number;
  seed: number;
  uniqueToken: string;
  device: Device;
}

export function parseEvaluateArgs(argv: string[]): EvaluateArgs | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        set: { type: 'string' },
        model: { type: 'string' },
        scorers: { type: 'string' },
        out: { type: 'string' },
        candidates: { type: 'string' },
        scorer: { type: 'string' },
        prompts: { type: 'string' },
        seed: { type: 'string' },
        'unique-token': { type: 'string' },
        device: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new InputError('usage', firstLine(err));
  }
  if (values.help) return 'help';
  for (const flag of ['set', 'model', 'scorers'] as const) {
    if (typeof values[flag] !== 'string') throw new InputError('usage', `--${flag} DIR is required.`);
  }
  const whole = (flag: string, min: number): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min) throw new InputError('usage', `--${flag} must be a whole number of at least ${min}, got "${String(v)}".`);
    return Number(v);
  };
  const scorer = (values.scorer ?? 'dino') as ScorerKind;
  if (!SCORER_KINDS.includes(scorer)) throw new InputError('usage', `--scorer must be ${SCORER_KINDS.join(', ')}; got "${String(values.scorer)}".`);
  const device = values.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new InputError('usage', '--device must be cpu or cuda.');
  return {
    set: values.set as string,
    model: values.model as string,
    scorers: values.scorers as string,
    out: typeof values.out === 'string' ? values.out : 'eval-out',
    candidates: parseOrThrow(CandidatesSchema, whole('candidates', 1) ?? 4),
    scorer,
    prompts: whole('prompts', 1),
    seed: whole('seed', 0) ?? 0,
    uniqueToken: typeof values['unique-token'] === 'string' ? values['unique-token'] : '',
    device,
  };
}
