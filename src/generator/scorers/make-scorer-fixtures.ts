import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../util/seeded-random.ts';
import { buildClipTokenizer, CLIP_BOS, CLIP_EOS } from './clip-tokenizer.ts';
import type { ScorerWeights } from './encoder.ts';
import { buildClipText, buildClipVision, buildDinoModel, type ClipTextDims, type VitDims } from './graphs.ts';

/**
 * Random-weight scorer models in the layout of the public transformers.js repositories
 * Xenova/dino-vits16 and Xenova/clip-vit-base-patch32: the same file names, graph input and output
 * names, dtypes and dynamic axes, and config files with the real keys and values except the sizes
 * (hidden sizes, layers, vocabulary) that are shrunk. Image size and patch size are the real ones.
 */

/** Which files: fp32 is onnx/NAME.onnx, q8 is onnx/NAME_quantized.onnx (as transformers.js names them). */
const SUFFIX: Record<ScorerWeights, string> = { fp32: '', q8: '_quantized' };

export interface ScorerFixtureOptions {
  seed?: number;
  variants?: ScorerWeights[];
  /** Real sizes (REAL_DINO_DIMS, REAL_CLIP_DIMS) for timing; default the tiny fixture sizes. */
  real?: boolean;
}

const json = (dir: string, name: string, value: unknown) => writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);

export const DINO_FIXTURE_DIMS: VitDims = { hidden: 32, heads: 2, layers: 2, intermediate: 64, eps: 1e-12, act: 'gelu', imageSize: 224, patch: 16 };

/** Writes a Xenova/dino-vits16-layout folder: config.json, preprocessor_config.json, onnx/model*.onnx. */
/** facebook/dino-vits16's sizes (ViT-S/16). */
export const REAL_DINO_DIMS: VitDims = { ...DINO_FIXTURE_DIMS, hidden: 384, heads: 6, layers: 12, intermediate: 1536 };

export function writeDinoFixture(dir: string, { seed = 1, variants = ['fp32'], real = false }: ScorerFixtureOptions = {}): void {
  const d = real ? REAL_DINO_DIMS : DINO_FIXTURE_DIMS;
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const v of variants) {
    // The same stream for every variant: q8 quantizes the weights fp32 holds.
    writeFileSync(join(dir, 'onnx', `model${SUFFIX[v]}.onnx`), buildDinoModel(d, new SeededRandom(seed).fork('dino'), v).build().model);
  }
  // facebook/dino-vits16's config.json (ViT-S/16), sizes shrunk.
  json(dir, 'config.json', {
    _name_or_path: 'facebook/dino-vits16',
    architectures: ['ViTModel'],
    attention_probs_dropout_prob: 0.0,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    hidden_size: d.hidden,
    image_size: d.imageSize,
    initializer_range: 0.02,
    intermediate_size: d.intermediate,
    layer_norm_eps: d.eps,
    model_type: 'vit',
    num_attention_heads: d.heads,
    num_channels: 3,
    num_hidden_layers: d.layers,
    patch_size: d.patch,
    qkv_bias: true,
    torch_dtype: 'float32',
    transformers_version: '4.29.2',
  });
  // The form the Xenova conversions write for ViT feature extractors (size as height/width, an
  // exact 224 x 224 resize, no crop), with facebook/dino-vits16's mean, std and resample.
  json(dir, 'preprocessor_config.json', {
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'ViTFeatureExtractor',
    image_std: [0.5, 0.5, 0.5],
    resample: 2,
    rescale_factor: 0.00392156862745098,
    size: { height: 224, width: 224 },
  });
}

export const CLIP_FIXTURE_DIMS = {
  vision: { hidden: 32, heads: 2, layers: 2, intermediate: 64, eps: 1e-5, act: 'quick_gelu', imageSize: 224, patch: 32 } satisfies VitDims,
  text: { hidden: 32, heads: 2, layers: 2, intermediate: 64, eps: 1e-5, act: 'quick_gelu', maxPositions: 77 } satisfies Omit<ClipTextDims, 'vocab'>,
  projection: 16,
  merges: 200,
};

/**
 * Writes a Xenova/clip-vit-base-patch32-layout folder: config.json, preprocessor_config.json,
 * tokenizer.json, tokenizer_config.json, special_tokens_map.json and onnx/vision_model*.onnx,
 * onnx/text_model*.onnx (the towers CLIPVisionModelWithProjection / CLIPTextModelWithProjection load).
 */
/** openai/clip-vit-base-patch32's sizes (the vocabulary stays the fixture's). */
export const REAL_CLIP_DIMS: typeof CLIP_FIXTURE_DIMS = {
  vision: { ...CLIP_FIXTURE_DIMS.vision, hidden: 768, heads: 12, layers: 12, intermediate: 3072 },
  text: { ...CLIP_FIXTURE_DIMS.text, hidden: 512, heads: 8, layers: 12, intermediate: 2048 },
  projection: 512,
  merges: CLIP_FIXTURE_DIMS.merges,
};

export function writeClipFixture(dir: string, { seed = 2, variants = ['fp32'], real = false }: ScorerFixtureOptions = {}): void {
  const dims = real ? REAL_CLIP_DIMS : CLIP_FIXTURE_DIMS;
  const { vision, projection } = dims;
  const tok = buildClipTokenizer(dims.merges);
  const text: ClipTextDims = { ...dims.text, vocab: tok.vocabSize };
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const v of variants) {
    const rng = new SeededRandom(seed);
    writeFileSync(join(dir, 'onnx', `vision_model${SUFFIX[v]}.onnx`), buildClipVision(vision, projection, rng.fork('vision'), v).build().model);
    writeFileSync(join(dir, 'onnx', `text_model${SUFFIX[v]}.onnx`), buildClipText(text, projection, rng.fork('text'), v).build().model);
  }
  json(dir, 'config.json', {
    _name_or_path: 'openai/clip-vit-base-patch32',
    architectures: ['CLIPModel'],
    initializer_factor: 1.0,
    logit_scale_init_value: 2.6592,
    model_type: 'clip',
    projection_dim: projection,
    text_config: {
      bos_token_id: 0,
      eos_token_id: 2,
      hidden_act: 'quick_gelu',
      hidden_size: text.hidden,
      intermediate_size: text.intermediate,
      layer_norm_eps: text.eps,
      max_position_embeddings: text.maxPositions,
      model_type: 'clip_text_model',
      num_attention_heads: text.heads,
      num_hidden_layers: text.layers,
      pad_token_id: 1,
      projection_dim: projection,
      vocab_size: text.vocab,
    },
    vision_config: {
      hidden_act: 'quick_gelu',
      hidden_size: vision.hidden,
      image_size: vision.imageSize,
      intermediate_size: vision.intermediate,
      layer_norm_eps: vision.eps,
      model_type: 'clip_vision_model',
      num_attention_heads: vision.heads,
      num_channels: 3,
      num_hidden_layers: vision.layers,
      patch_size: vision.patch,
      projection_dim: projection,
    },
    torch_dtype: 'float32',
    transformers_version: '4.29.2',
  });
  // Xenova/clip-vit-base-patch32's preprocessor_config.json as published.
  json(dir, 'preprocessor_config.json', {
    crop_size: { height: 224, width: 224 },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    feature_extractor_type: 'CLIPFeatureExtractor',
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_processor_type: 'CLIPFeatureExtractor',
    image_std: [0.26862954, 0.26130258, 0.27577711],
    resample: 3,
    rescale_factor: 0.00392156862745098,
    size: { shortest_edge: 224 },
  });
  json(dir, 'tokenizer.json', tok.tokenizerJson);
  json(dir, 'tokenizer_config.json', {
    add_prefix_space: false,
    bos_token: CLIP_BOS,
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: CLIP_EOS,
    errors: 'replace',
    model_max_length: 77,
    pad_token: CLIP_EOS,
    tokenizer_class: 'CLIPTokenizer',
    unk_token: CLIP_EOS,
  });
  json(dir, 'special_tokens_map.json', { bos_token: CLIP_BOS, eos_token: CLIP_EOS, pad_token: CLIP_EOS, unk_token: CLIP_EOS });
}
