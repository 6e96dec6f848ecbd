import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { graphFileName, type GraphName } from '../bundle/contract.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import { buildBpeTokenizer, type SpecialToken } from './bpe-tokenizer.ts';
import { gridSize, type BundleDims } from './dims.ts';
import { buildGenImgEmbeds } from './graphs/gen-img-embeds.ts';
import { buildGenHead, buildLmHead } from './graphs/heads.ts';
import { buildImageDecode } from './graphs/image-decode.ts';
import { buildLanguageModel } from './graphs/language-model.ts';
import { buildPrepareInputsEmbeds } from './graphs/prepare-inputs-embeds.ts';
import type { GraphBuilder, WeightFormat } from './onnx-builder.ts';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';

/** Janus' special tokens (special_tokens_map.json of the public export plus the image tags). */
const SPECIALS: SpecialToken[] = [
  BOS, EOS, '<｜▁pad▁｜>', '<image_placeholder>', '<patch_placeholder>', '<|ref|>', '<|/ref|>', '<|det|>', '<|/det|>',
  '<|grounding|>', '<|User|>', '<|Assistant|>', '<pad>', '<begin_of_image>', '<end_of_image>',
].map((content) => ({ content, special: true }));

/**
 * The deepseek conversation format (sft_format "deepseek"): "ROLE: content\n\n" turns, the
 * assistant's turns closed by EOS, BOS emitted by the template because the processor encodes
 * without special tokens. text_to_image opens the image right after the assistant tag.
 */
const CONVERSATION = `{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}\n\n{% elif message['role'] == '<|Assistant|>' %}{{ message['role'] }}: {{ message['content'] }}{{ eos_token }}{% else %}{{ message['role'] }}: {{ message['content'] }}\n\n{% endif %}{% endfor %}`;
const CHAT_TEMPLATES = [
  { name: 'default', template: `${CONVERSATION}{% if add_generation_prompt %}<|Assistant|>:{% endif %}` },
  { name: 'text_to_image', template: `${CONVERSATION}{% if add_generation_prompt %}<|Assistant|>:<begin_of_image>{% endif %}` },
];

const BUILDERS: Record<GraphName, (d: BundleDims, rng: SeededRandom, weights: WeightFormat) => GraphBuilder> = {
  prepare_inputs_embeds: buildPrepareInputsEmbeds,
  language_model: buildLanguageModel,
  lm_head: buildLmHead,
  gen_head: buildGenHead,
  gen_img_embeds: buildGenImgEmbeds,
  image_decode: buildImageDecode,
};

export interface MakeBundleOptions {
  out: string;
  seed: number;
  dims: BundleDims;
  /** Which variants to write (default fp32 only); q4 turns linear layers into 4-bit MatMulNBits. */
  variants?: WeightFormat[];
}

/**
 * Writes a complete bundle in the public export's layout with random weights from `seed`.
 * The same seed and dims give the same bytes.
 */
export function makeBundle({ out, seed, dims: requested, variants = ['fp32'] }: MakeBundleOptions): void {
  const tokenizer = buildBpeTokenizer(requested.bpeMerges, SPECIALS, requested.specialTokenBase);
  const dims = { ...requested, vocab: requested.vocab || tokenizer.size };
  if (tokenizer.size > dims.vocab) throw new Error(`vocab ${dims.vocab} is smaller than the tokenizer (${tokenizer.size})`);
  const id = (t: string) => tokenizer.specialIds.get(t)!;
  if (Math.min(...tokenizer.specialIds.values()) < dims.codebookSize) {
    // transformers.js suppresses EOS in image logits while min_new_tokens runs; keep ids apart.
    throw new Error('special token ids must lie above the image codebook');
  }

  mkdirSync(join(out, 'onnx'), { recursive: true });
  const rng = new SeededRandom(seed);
  for (const variant of variants) {
    for (const [name, build] of Object.entries(BUILDERS) as [GraphName, (typeof BUILDERS)[GraphName]][]) {
      const file = graphFileName(name, variant);
      // The same fork per graph for every variant: q4 quantizes the very weights fp32 holds.
      const { model, sidecar } = build(dims, rng.fork(name), variant).build(`${file}_data`);
      writeFileSync(join(out, 'onnx', file), model);
      if (sidecar) writeFileSync(join(out, 'onnx', `${file}_data`), sidecar);
    }
  }

  const json = (name: string, value: unknown) => writeFileSync(join(out, name), `${JSON.stringify(value, null, 2)}\n`);
  json('tokenizer.json', tokenizer.json);
  json('config.json', {
    model_type: 'multi_modality',
    architectures: ['MultiModalityCausalLM'],
    language_config: {
      model_type: 'llama',
      hidden_size: dims.hidden,
      intermediate_size: dims.intermediate,
      num_hidden_layers: dims.layers,
      num_attention_heads: dims.heads,
      num_key_value_heads: dims.heads,
      head_dim: dims.headDim,
      max_position_embeddings: dims.maxPositions,
      rms_norm_eps: dims.rmsEps,
      rope_theta: dims.ropeTheta,
      vocab_size: dims.vocab,
    },
    vision_config: { model_type: 'vision', image_size: dims.imageSize, patch_size: dims.patchSize, width: dims.visionWidth },
    gen_vision_config: { model_type: 'gen_vision', params: { image_token_size: dims.codebookSize, n_embed: dims.codeDim } },
    gen_head_config: { model_type: 'gen_head', params: { image_token_embed: dims.hidden, image_token_size: dims.codebookSize, n_embed: dims.hidden } },
    'transformers.js_config': { use_external_data_format: true },
  });
  json('generation_config.json', {
    bos_token_id: id(BOS),
    eos_token_id: id(EOS),
    do_sample: true,
    num_image_tokens: gridSize(dims) ** 2,
    pad_token_id: id('<pad>'),
    temperature: 0.7,
    top_p: 0.95,
  });
  json('preprocessor_config.json', {
    background_color: [127, 127, 127],
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'VLMImageProcessor',
    image_size: dims.imageSize,
    image_std: [0.5, 0.5, 0.5],
    min_size: 14,
    processor_class: 'VLChatProcessor',
    rescale_factor: 1 / 255,
  });
  json('processor_config.json', {
    add_special_token: false,
    ignore_id: -100,
    image_tag: '<image_placeholder>',
    image_start_tag: '<begin_of_image>',
    image_end_tag: '<end_of_image>',
    mask_prompt: true,
    num_image_tokens: gridSize(dims) ** 2,
    processor_class: 'VLChatProcessor',
    sft_format: 'deepseek',
  });
  json('special_tokens_map.json', {
    additional_special_tokens: SPECIALS.slice(3, 12).map((s) => s.content),
    bos_token: BOS,
    eos_token: EOS,
    pad_token: '<｜▁pad▁｜>',
  });
  json('tokenizer_config.json', {
    bos_token: BOS,
    eos_token: EOS,
    pad_token: '<｜▁pad▁｜>',
    clean_up_tokenization_spaces: false,
    model_max_length: dims.maxPositions,
    tokenizer_class: 'LlamaTokenizerFast',
    chat_template: CHAT_TEMPLATES,
  });
}
