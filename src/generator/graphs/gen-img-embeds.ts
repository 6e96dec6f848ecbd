import type { BundleDims } from '../dims.ts';
import { mlpGelu } from '../layers.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';

/** gen_img_embeds: image-token ids -> gen_embed (codebook x codeDim) -> gen_aligner MLP -> embeddings. */
export function buildGenImgEmbeds(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.gen_img_embeds;
  const b = new GraphBuilder('gen_img_embeds', weights);
  const ids = b.input(io.imageIds, DType.int64, ['batch_size', 'sequence_length']);
  const table = b.weight('gen_embed.weight', { dtype: DType.float, dims: [d.codebookSize, d.codeDim], data: rng.normalArray(d.codebookSize * d.codeDim, 1) });
  const codes = b.o('Gather', [table, ids], { axis: 0 });
  b.named(io.inputsEmbeds, 'Identity', [mlpGelu(b, rng, 'gen_aligner.layers', codes, d.codeDim, d.hidden)]);
  b.output(io.inputsEmbeds, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  return b;
}
