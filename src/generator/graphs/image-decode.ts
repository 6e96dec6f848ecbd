import { gridSize, type BundleDims } from '../dims.ts';
import { silu } from '../layers.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';

/**
 * image_decode: VQ code ids [B, grid*grid] -> codebook vectors -> a conv decoder that doubles the
 * resolution until grid * patch (24 -> 384) -> tanh -> [B, 3, S, S] in [-1, 1].
 */
export function buildImageDecode(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.image_decode;
  const g = gridSize(d);
  const b = new GraphBuilder('image_decode', weights);
  const ids = b.input(io.generatedTokens, DType.int64, ['batch_size', g * g]);
  const codebook = b.weight('gen_vision_model.quantize.embedding.weight', { dtype: DType.float, dims: [d.codebookSize, d.codeDim], data: rng.normalArray(d.codebookSize * d.codeDim, 1) });
  const vectors = b.o('Gather', [codebook, ids], { axis: 0 });
  let x = b.o('Transpose', [b.o('Reshape', [vectors, b.constInt([-1, g, g, d.codeDim])])], { perm: [0, 3, 1, 2] });

  let channels = d.decoderChannels;
  x = conv3x3(b, rng, 'gen_vision_model.decoder.conv_in', x, d.codeDim, channels);
  for (let size = g, stage = 0; size < d.imageSize; size *= 2, stage++) {
    x = b.o('Resize', [x, '', b.constFloat([1, 1, 2, 2])], { mode: 'nearest' });
    const next = Math.max(4, channels / 2);
    x = silu(b, conv3x3(b, rng, `gen_vision_model.decoder.up.${stage}.conv`, x, channels, next));
    channels = next;
  }
  const out = conv3x3(b, rng, 'gen_vision_model.decoder.conv_out', x, channels, 3);
  b.named(io.decodedImage, 'Tanh', [out]);
  b.output(io.decodedImage, DType.float, ['batch_size', 3, d.imageSize, d.imageSize]);
  return b;
}

function conv3x3(b: GraphBuilder, rng: SeededRandom, name: string, x: string, cin: number, cout: number): string {
  const w = b.weight(`${name}.weight`, { dtype: DType.float, dims: [cout, cin, 3, 3], data: rng.normalArray(cout * cin * 9, 1 / Math.sqrt(cin * 9)) });
  const bias = b.weight(`${name}.bias`, { dtype: DType.float, dims: [cout], data: rng.normalArray(cout, 0.02) });
  return b.o('Conv', [x, w, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
}
