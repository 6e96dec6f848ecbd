import { gridSize, type BundleDims } from '../dims.ts';
import { attention, gelu, layerNorm, linear, mergeHeads, mlpGelu, splitHeads } from '../layers.ts';
import { DType, GraphBuilder, type WeightFormat } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { GRAPH_IO } from '../../bundle/contract.ts';

/**
 * prepare_inputs_embeds: token embeddings, with the SigLIP-like features of each image written over
 * the positions images_seq_mask marks (in order, the features images_emb_mask selects).
 */
export function buildPrepareInputsEmbeds(d: BundleDims, rng: SeededRandom, weights: WeightFormat = 'fp32'): GraphBuilder {
  const io = GRAPH_IO.prepare_inputs_embeds;
  const g = gridSize(d);
  const b = new GraphBuilder('prepare_inputs_embeds', weights);
  const inputIds = b.input(io.inputIds, DType.int64, ['batch_size', 'sequence_length']);
  const pixels = b.input(io.pixelValues, DType.float, ['batch_size', 'num_images', 3, d.imageSize, d.imageSize]);
  const seqMask = b.input(io.imagesSeqMask, DType.bool, ['batch_size', 'sequence_length']);
  // transformers.js passes [1, 1, 0] on decode steps, so the token axis is symbolic as in the export.
  const embMask = b.input(io.imagesEmbMask, DType.bool, ['batch_size', 'num_images', 'num_image_tokens']);

  const table = b.weight('language_model.model.embed_tokens.weight', { dtype: DType.float, dims: [d.vocab, d.hidden], data: rng.normalArray(d.vocab * d.hidden, 1) });
  const textEmbeds = b.o('Gather', [table, inputIds], { axis: 0 });

  const { features: perImage, count } = visionTower(b, d, rng, pixels);
  const featureRows = b.o('Mul', [count, b.constInt([g * g])]);
  const features = b.o('Reshape', [perImage, b.o('Concat', [featureRows, b.constInt([d.hidden])], { axis: 0 })], { allowzero: 1 });
  const selected = b.o('Compress', [features, b.o('Reshape', [embMask, b.constInt([-1])])], { axis: 0 });
  // Row 0 is a zero row, so unmasked positions gather something harmless; masked ones gather 1..K.
  const rows = b.o('Concat', [b.constFloat(new Array(d.hidden).fill(0), [1, d.hidden]), selected], { axis: 0 });
  const maskInt = b.o('Cast', [seqMask], { to: DType.int64 });
  const flatMask = b.o('Reshape', [maskInt, b.constInt([-1])]);
  const index = b.o('Mul', [b.o('CumSum', [flatMask, b.constInt([0], [])]), flatMask]);
  const imageEmbeds = b.o('Gather', [rows, b.o('Reshape', [index, b.o('Shape', [seqMask])])], { axis: 0 });
  const useImage = b.o('Unsqueeze', [seqMask, b.constInt([-1])]);
  b.named(io.inputsEmbeds, 'Where', [useImage, imageEmbeds, textEmbeds]);
  b.output(io.inputsEmbeds, DType.float, ['batch_size', 'sequence_length', d.hidden]);
  return b;
}

/** pixel_values [B, n, 3, S, S] -> aligned features [B*n, grid*grid, hidden], and B*n as [1]. */
function visionTower(b: GraphBuilder, d: BundleDims, rng: SeededRandom, pixels: string): { features: string; count: string } {
  const g = gridSize(d);
  const w = d.visionWidth;
  // Explicit [B*n, 3, S, S] (allowzero) rather than -1, so zero images (text-only input) reshape cleanly.
  const shape = b.o('Shape', [pixels]);
  const count = b.o('Mul', [
    b.o('Slice', [shape, b.constInt([0]), b.constInt([1])]),
    b.o('Slice', [shape, b.constInt([1]), b.constInt([2])]),
  ]);
  const flat = b.o('Reshape', [pixels, b.o('Concat', [count, b.constInt([3, d.imageSize, d.imageSize])], { axis: 0 })], { allowzero: 1 });
  const kernel = b.weight('vision_model.embeddings.patch_embedding.weight', { dtype: DType.float, dims: [w, 3, d.patchSize, d.patchSize], data: rng.normalArray(w * 3 * d.patchSize ** 2, 1 / Math.sqrt(3 * d.patchSize ** 2)) });
  const kbias = b.weight('vision_model.embeddings.patch_embedding.bias', { dtype: DType.float, dims: [w], data: rng.normalArray(w, 0.02) });
  const patches = b.o('Conv', [flat, kernel, kbias], { kernel_shape: [d.patchSize, d.patchSize], strides: [d.patchSize, d.patchSize] });
  const seq = b.o('Transpose', [b.o('Reshape', [patches, b.constInt([0, w, g * g])])], { perm: [0, 2, 1] });
  const pos = b.weight('vision_model.embeddings.position_embedding.weight', { dtype: DType.float, dims: [g * g, w], data: rng.normalArray(g * g * w, 0.02) });
  let x = b.o('Add', [seq, pos]);

  const hd = w / d.visionHeads;
  for (let i = 0; i < d.visionLayers; i++) {
    const p = `vision_model.encoder.layers.${i}`;
    const h = layerNorm(b, rng, `${p}.layer_norm1`, x, w, 1e-6);
    const q = splitHeads(b, linear(b, rng, `${p}.self_attn.q_proj`, h, w, w, true), d.visionHeads, hd);
    const k = splitHeads(b, linear(b, rng, `${p}.self_attn.k_proj`, h, w, w, true), d.visionHeads, hd);
    const v = splitHeads(b, linear(b, rng, `${p}.self_attn.v_proj`, h, w, w, true), d.visionHeads, hd);
    const attn = mergeHeads(b, attention(b, q, k, v, hd), w);
    x = b.o('Add', [x, linear(b, rng, `${p}.self_attn.out_proj`, attn, w, w, true)]);
    const h2 = layerNorm(b, rng, `${p}.layer_norm2`, x, w, 1e-6);
    const mlp = linear(b, rng, `${p}.mlp.fc2`, gelu(b, linear(b, rng, `${p}.mlp.fc1`, h2, w, 4 * w, true)), 4 * w, w, true);
    x = b.o('Add', [x, mlp]);
  }
  x = layerNorm(b, rng, 'vision_model.post_layernorm', x, w, 1e-6);
  return { features: mlpGelu(b, rng, 'aligner.layers', x, w, d.hidden), count };
}
