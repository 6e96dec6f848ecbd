import { parseArgs } from 'node:util';
import { JANUS_PRO_1B_DIMS, TINY_DIMS, type BundleDims } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import type { WeightFormat } from '../src/generator/onnx-builder.ts';

const USAGE = `Usage: npm run make-tiny-bundle -- --out DIR [--seed N] [--preset tiny|janus-pro-1b] [--variants fp32,q4,q4f16]
       [--attention concat|mha|gqa|gqa-separate] [--accuracy-level 0|4] [--template-bos yes|no] [--hidden N] [--layers N] [--heads N] [--head-dim N] [--intermediate N] [--vocab N] [--codebook N]
Writes a random-weight bundle in the public Janus-Pro ONNX layout (a test fixture, not a model).
--attention: the language model's attention form: plain ONNX Concat (default for --preset tiny), or
onnxruntime-genai builder graphs with com.microsoft ops: MultiHeadAttention with RotaryEmbedding and
position_ids (mha, its web form), GroupQueryAttention on one packed qkv_proj MatMul (gqa, its cpu/cuda
form, default for --preset janus-pro-1b), GroupQueryAttention on separate q/k/v with RotaryEmbedding
and position_ids (gqa-separate, its dml form). The same seed gives every form the same weights.
--accuracy-level: MatMulNBits accuracy_level of the q4 graphs: 0 (float32 compute, the builder's
default when the public export was made; default for --preset janus-pro-1b) or 4 (int8 compute,
default for --preset tiny).
--template-bos: whether the chat templates write BOS themselves (yes, default) or not (no: the shape
of transformers' Janus template; the engine adds BOS, transformers.js does not).`;

const ATTENTION_FORMS = ['concat', 'mha', 'gqa', 'gqa-separate'] as const;
type AttentionForm = (typeof ATTENTION_FORMS)[number];
const DEFAULT_ATTENTION: Record<string, AttentionForm> = { tiny: 'concat', 'janus-pro-1b': 'gqa' };
const DEFAULT_ACCURACY_LEVEL: Record<string, 0 | 4> = { tiny: 4, 'janus-pro-1b': 0 };

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
        'accuracy-level': { type: 'string' },
        'template-bos': { type: 'string', default: 'yes' },
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
  if (!ATTENTION_FORMS.includes(attention as AttentionForm)) fail(`--attention takes ${ATTENTION_FORMS.join(', ')}, not ${attention}`);
  const level = values['accuracy-level'] === undefined ? DEFAULT_ACCURACY_LEVEL[values.preset as string] : Number(values['accuracy-level']);
  if (level !== 0 && level !== 4) fail(`--accuracy-level takes 0 or 4, not ${String(values['accuracy-level'])}`);
  if (values['template-bos'] !== 'yes' && values['template-bos'] !== 'no') fail(`--template-bos takes yes or no, not ${String(values['template-bos'])}`);
  const t0 = Date.now();
  try {
    makeBundle({ out: values.out as string, seed, dims, variants, attention: attention as AttentionForm, accuracyLevel: level, templateBos: values['template-bos'] === 'yes' });
  } catch (err) {
    fail((err as Error).message);
  }
  console.error(`bundle written to ${values.out} in ${Date.now() - t0} ms (seed ${seed}, attention ${attention}, accuracy level ${level}, template BOS ${values['template-bos']})`);
}

function fail(message: string): never {
  console.error(`make-tiny-bundle: ${message}`);
  process.exit(2);
}

main();
