import { TINY_DIMS } from '../../src/generator/dims.ts';
import { DType, GraphBuilder } from '../../src/generator/onnx-builder.ts';

/** lm_head with the right shapes but its input named "hidden" instead of "hidden_states". */
export function misnamedLmHead(vocab: number): Uint8Array {
  const b = new GraphBuilder('lm_head');
  const x = b.input('hidden', DType.float, ['batch_size', 'sequence_length', TINY_DIMS.hidden]);
  const w = b.constFloat(new Array(TINY_DIMS.hidden * vocab).fill(0.01), [TINY_DIMS.hidden, vocab]);
  b.named('logits', 'MatMul', [x, w]);
  b.output('logits', DType.float, ['batch_size', 'sequence_length', vocab]);
  return b.build().model;
}
