import type { BundleDims } from '../dims.ts';
import { gelu, linear } from '../layers.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';

/** lm_head: hidden states -> text logits over the tokenizer vocabulary. */
export function buildLmHead(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.lm_head;
  const b = new GraphBuilder('lm_head', weights);
  const h = b.input(io.hiddenStates, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  b.named(io.logits, 'Identity', [linear(b, rng, 'language_model.lm_head', h, d.hidden, d.vocab)]);
  b.output(io.logits, DType.float, ['batch_size', 'sequence_length', d.vocab]);
  return b;
}

/** gen_head (Janus vision_head): Linear(H, H), GELU, Linear(H, codebook) -> image-token logits. */
export function buildGenHead(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.gen_head;
  const b = new GraphBuilder('gen_head', weights);
  const h = b.input(io.hiddenStates, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  const mid = gelu(b, linear(b, rng, 'gen_head.output_mlp_projector', h, d.hidden, d.hidden, true));
  b.named(io.logits, 'Identity', [linear(b, rng, 'gen_head.vision_head', mid, d.hidden, d.codebookSize, true)]);
  b.output(io.logits, DType.float, ['batch_size', 'sequence_length', d.codebookSize]);
  return b;
}
