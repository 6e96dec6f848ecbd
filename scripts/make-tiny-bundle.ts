import { parseArgs } from 'node:util';
import { JANUS_PRO_1B_DIMS, TINY_DIMS, type BundleDims } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import type { WeightFormat } from '../src/generator/onnx-builder.ts';

const USAGE = `Usage: npm run make-tiny-bundle -- --out DIR [--seed N] [--preset tiny|janus-pro-1b] [--variants fp32,q4,q4f16]
       [--attention concat|mha|gqa] [--hidden N] [--layers N] [--heads N] [--head-dim N] [--intermediate N] [--vocab N] [--codebook N]
Writes a random-weight bundle in the public Janus-Pro ONNX layout (a test fixture, not a model).
--attention: the language model's attention form: plain ONNX Concat (default for --preset tiny), or
onnxruntime-genai builder graphs with com.microsoft MultiHeadAttention (mha) or GroupQueryAttention
(gqa, default for --preset janus-pro-1b). The same seed gives every form the same weights.`;

const ATTENTION_FORMS = ['concat', 'mha', 'gqa'] as const;
type AttentionForm = (typeof ATTENTION_FORMS)[number];
const DEFAULT_ATTENTION: Record<string, AttentionForm> = { tiny: 'concat', 'janus-pro-1b': 'gqa' };

const SIZE_FLAGS: Record<string, keyof BundleDims> = {
  hidden: 'hidden',
  layers: 'layers',
  heads: 'heads',
  'head-dim': 'headDim',
  intermediate: 'intermediate',
  vocab: 'vocab',
  codebook: 'codebookSize',
};

function main(): void {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string' },
        seed: { type: 'string', default: '1' },
        preset: { type: 'string', default: 'tiny' },
        variants: { type: 'string', default: 'fp32' },
        attention: { type: 'string' },
        help: { type: 'boolean' },
        ...Object.fromEntries(Object.keys(SIZE_FLAGS).map((k) => [k, { type: 'string' as const }])),
      },
    }));
  } catch (err) {
    fail((err as Error).message.split('\n')[0]);
  }
  if (values.help || !values.out) {
    console.error(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const presets: Record<string, BundleDims> = { tiny: TINY_DIMS, 'janus-pro-1b': JANUS_PRO_1B_DIMS };
  const base = presets[values.preset as string];
  if (!base) fail(`unknown --preset ${values.preset} (tiny or janus-pro-1b)`);
  const dims: BundleDims = { ...base };
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    const v = (values as Record<string, unknown>)[flag];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) fail(`--${flag} must be a positive integer`);
    (dims[key] as number) = n;
  }
  if (dims.hidden !== dims.heads * dims.headDim) fail('--hidden must equal --heads x --head-dim');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) fail('--seed must be a non-negative integer');
  const variants = String(values.variants).split(',');
  if (!variants.every((v): v is WeightFormat => v === 'fp32' || v === 'q4' || v === 'q4f16')) fail('--variants takes fp32, q4 and/or q4f16 (the language model only, mha or gqa), comma-separated');
  const attention = (values.attention ?? DEFAULT_ATTENTION[values.preset as string]) as string;
  if (!ATTENTION_FORMS.includes(attention as AttentionForm)) fail(`--attention takes concat, mha or gqa, not ${attention}`);
  const t0 = Date.now();
  try {
    makeBundle({ out: values.out as string, seed, dims, variants, attention: attention as AttentionForm });
  } catch (err) {
    fail((err as Error).message);
  }
  console.error(`bundle written to ${values.out} in ${Date.now() - t0} ms (seed ${seed})`);
}

function fail(message: string): never {
  console.error(`make-tiny-bundle: ${message}`);
  process.exit(2);
}

main();
