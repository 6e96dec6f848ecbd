import { layerNorm } from '../layers.ts';
import { DType, GraphBuilder } from '../onnx-builder.ts';
import type { SeededRandom } from '../../util/seeded-random.ts';
import { encoder, linearQ, patchEmbeddings, type EncoderDims, type ScorerWeights } from './encoder.ts';

/** Sizes of a ViT tower (DINO's ViTModel or CLIP's vision tower). */
export interface VitDims extends EncoderDims {
  imageSize: number;
  patch: number;
}

export interface ClipTextDims extends EncoderDims {
  vocab: number;
  maxPositions: number;
}

/** Dynamic axes as the Optimum exports name them. */
const PIXELS: (string | number)[] = ['batch_size', 'num_channels', 'height', 'width'];

/**
 * onnx/model.onnx of Xenova/dino-vits16: ViTModel without pooler (the DINO checkpoints have none).
 * pixel_values [B, 3, H, W] -> last_hidden_state [B, 1 + patches, hidden], the last encoder
 * output through the final LayerNorm; the CLS token is row 0.
 */
export function buildDinoModel(d: VitDims, rng: SeededRandom, weights: ScorerWeights): GraphBuilder {
  const b = new GraphBuilder('dino');
  const pixels = b.input('pixel_values', DType.float, PIXELS);
  const x = patchEmbeddings(b, rng, 'embeddings', pixels, d.hidden, d.patch, d.imageSize, true);
  const h = encoder(b, rng, 'encoder', x, d, weights);
  b.named('last_hidden_state', 'Identity', [layerNorm(b, rng, 'layernorm', h, d.hidden, d.eps)]);
  b.output('last_hidden_state', DType.float, ['batch_size', 'sequence_length', d.hidden]);
  return b;
}

/**
 * onnx/vision_model.onnx of Xenova/clip-vit-base-patch32 (CLIPVisionModelWithProjection):
 * pixel_values -> image_embeds [B, projection], the CLS token after post_layernorm, projected
 * (no bias). Not normalized: CLIPModel normalizes, the tower does not.
 */
export function buildClipVision(d: VitDims, projection: number, rng: SeededRandom, weights: ScorerWeights): GraphBuilder {
  const b = new GraphBuilder('clip_vision');
  const pixels = b.input('pixel_values', DType.float, PIXELS);
  const x = patchEmbeddings(b, rng, 'vision_model.embeddings', pixels, d.hidden, d.patch, d.imageSize, false);
  const pre = layerNorm(b, rng, 'vision_model.pre_layrnorm', x, d.hidden, d.eps);
  const h = encoder(b, rng, 'vision_model.encoder', pre, d, weights);
  const cls = b.o('Gather', [h, b.constInt([0], [])], { axis: 1 });
  const pooled = layerNorm(b, rng, 'vision_model.post_layernorm', cls, d.hidden, d.eps);
  b.named('image_embeds', 'Identity', [linearQ(b, rng, 'visual_projection', pooled, d.hidden, projection, weights, false)]);
  b.output('image_embeds', DType.float, ['batch_size', projection]);
  return b;
}

/**
 * onnx/text_model.onnx (CLIPTextModelWithProjection): input_ids [B, L] -> text_embeds [B, projection].
 * Causal self-attention; the pooled token is where input_ids is largest (HF's rule for configs with
 * eos_token_id 2: argmax over ids cast to int32, the end-of-text id being the largest in the vocabulary).
 */
export function buildClipText(d: ClipTextDims, projection: number, rng: SeededRandom, weights: ScorerWeights): GraphBuilder {
  const b = new GraphBuilder('clip_text');
  const ids = b.input('input_ids', DType.int64, ['batch_size', 'sequence_length']);
  const tokenTable = b.weight('text_model.embeddings.token_embedding.weight', { dtype: DType.float, dims: [d.vocab, d.hidden], data: rng.normalArray(d.vocab * d.hidden, 0.5) });
  const posTable = b.weight('text_model.embeddings.position_embedding.weight', { dtype: DType.float, dims: [d.maxPositions, d.hidden], data: rng.normalArray(d.maxPositions * d.hidden, 0.5) });
  const shape = b.o('Shape', [ids]);
  const len = b.o('Gather', [shape, b.constInt([1], [])], { axis: 0 });
  const positions = b.o('Range', [b.constInt([0], []), len, b.constInt([1], [])]);
  const x = b.o('Add', [b.o('Gather', [tokenTable, ids], { axis: 0 }), b.o('Gather', [posTable, positions], { axis: 0 })]);
  // allowed[q, k] = k <= q
  const later = b.o('Greater', [b.o('Unsqueeze', [positions, b.constInt([0])]), b.o('Unsqueeze', [positions, b.constInt([1])])]);
  const allowed = b.o('Not', [later]);
  const h = encoder(b, rng, 'text_model.encoder', x, d, weights, allowed);
  const last = layerNorm(b, rng, 'text_model.final_layer_norm', h, d.hidden, d.eps);
  const eos = b.o('ArgMax', [b.o('Cast', [ids], { to: DType.int32 })], { axis: -1, keepdims: 0 });
  const batch = b.o('Gather', [shape, b.constInt([0], [])], { axis: 0 });
  const rowStart = b.o('Mul', [b.o('Range', [b.constInt([0], []), batch, b.constInt([1], [])]), len]);
  const flat = b.o('Reshape', [last, b.constInt([-1, d.hidden])]);
  const pooled = b.o('Gather', [flat, b.o('Add', [rowStart, eos])], { axis: 0 });
  b.named('text_embeds', 'Identity', [linearQ(b, rng, 'text_projection', pooled, d.hidden, projection, weights, false)]);
  b.output('text_embeds', DType.float, ['batch_size', projection]);
  return b;
}
