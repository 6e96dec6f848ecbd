import type { BundleDims } from '../dims.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';

/** The graph's tensor names: transformers.js' convention for `embed_tokens` sessions (models/modeling_utils.js). */
export const EMBED_TOKENS_IO = { inputIds: 'input_ids', inputsEmbeds: 'inputs_embeds' } as const;

/**
 * embed_tokens: input_ids -> the language model's token embeddings, one Gather. The public export
 * ships this graph (onnx/embed_tokens*.onnx) although transformers.js' MultiModalityCausalLM does not
 * open it, and neither does our loader. Pass the same stream prepare_inputs_embeds draws its table
 * from (its first draw) and both graphs hold the same table, as in the export.
 * A Gather has no linear layer, so the q4 variant is the same graph under the q4 file name.
 */
export function buildEmbedTokens(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const b = new GraphBuilder('embed_tokens', weights);
  const ids = b.input(EMBED_TOKENS_IO.inputIds, DType.int64, ['batch_size', 'sequence_length']);
  const table = b.weight('language_model.model.embed_tokens.weight', { dtype: DType.float, dims: [d.vocab, d.hidden], data: rng.normalArray(d.vocab * d.hidden, 1) });
  b.named(EMBED_TOKENS_IO.inputsEmbeds, 'Gather', [table, ids], { axis: 0 });
  b.output(EMBED_TOKENS_IO.inputsEmbeds, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  return b;
}
