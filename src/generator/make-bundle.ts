import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_SUFFIX, graphFileName, type GraphName } from '../bundle/contract.ts';
import { SeededRandom } from '../util/seeded-random.ts';
import { buildBpeTokenizer, type SpecialToken } from './bpe-tokenizer.ts';
import { gridSize, type BundleDims } from './dims.ts';
import { buildEmbedTokens } from './graphs/embed-tokens.ts';
import { buildGenImgEmbeds } from './graphs/gen-img-embeds.ts';
import { buildGenHead, buildLmHead } from './graphs/heads.ts';
import { buildImageDecode } from './graphs/image-decode.ts';
import { buildLanguageModel } from './graphs/language-model.ts';
import { buildLanguageModelGqa, buildLanguageModelGqaSeparate, buildLanguageModelMha } from './graphs/language-model-fused.ts';
import { buildPrepareInputsEmbeds } from './graphs/prepare-inputs-embeds.ts';
import type { GraphBuilder, WeightFormat } from './onnx-builder.ts';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';

/**
 * The token the official recipe fills the unconditional CFG row with (VLChatProcessor.pad_tag;
 * generation_config.json pad_token_id 100015 in the public export).
 */
const CFG_PAD = '<｜▁pad▁｜>';
/**
 * The tokenizer's own pad_token (tokenizer_config.json), a different token: id 100002 in Janus-Pro's
 * tokenizer. Its text is not confirmed; the fixture calls it <pad> so the two cannot be mixed up.
 */
const TOKENIZER_PAD = '<pad>';
/** special_tokens_map.json additional_special_tokens of the public export, in its order. */
const ADDITIONAL_SPECIALS = [
  '<image_placeholder>', '<patch_placeholder>', '<|ref|>', '<|/ref|>', '<|det|>', '<|/det|>', '<|grounding|>', '<|User|>', '<|Assistant|>',
];

/**
 * Janus' added tokens at their offsets from the first special id (specialTokenBase: 100000 in the
 * janus-pro-1b preset, so offset 15 is id 100015). Public ids: BOS 100000, EOS 100001, the tokenizer's
 * pad 100002, <｜▁pad▁｜> 100015, <begin_of_image> 100016, <image_placeholder> 100581 (the processor
 * appends it after the tokenizer's 100581 tokens). Where the other tags sit is not known; they keep
 * this order right after <begin_of_image>. The gaps hold reserved special tokens, so every id up to
 * the last names a token, as in the public tokenizer.json.
 */
const SPECIAL_OFFSETS: [content: string, offset: number][] = [
  [BOS, 0], [EOS, 1], [TOKENIZER_PAD, 2], [CFG_PAD, 15], ['<begin_of_image>', 16], ['<end_of_image>', 17],
  ...ADDITIONAL_SPECIALS.slice(1).map((t, i): [string, number] => [t, 18 + i]),
  ['<image_placeholder>', 581],
];
const SPECIALS: SpecialToken[] = (() => {
  const at = new Map(SPECIAL_OFFSETS.map(([t, o]) => [o, t]));
  const last = Math.max(...at.keys());
  return Array.from({ length: last + 1 }, (_, o) => ({ content: at.get(o) ?? `<|fixture_reserved_${o}|>`, special: true }));
})();

/**
 * The deepseek conversation format (sft_format "deepseek"): "ROLE: content\n\n" turns, the
 * assistant's turns closed by EOS. text_to_image opens the image right after the assistant tag.
 * With `bos`, the template writes BOS itself (transformers.js encodes without special tokens, so
 * only then does it feed BOS); without, it has the shape of transformers' own Janus template.
 */
const conversation = (bos: boolean) => `${bos ? '{{ bos_token }}' : ''}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}\n\n{% elif message['role'] == '<|Assistant|>' %}{{ message['role'] }}: {{ message['content'] }}{{ eos_token }}{% else %}{{ message['role'] }}: {{ message['content'] }}\n\n{% endif %}{% endfor %}`;
const chatTemplates = (bos: boolean) => [
  { name: 'default', template: `${conversation(bos)}{% if add_generation_prompt %}<|Assistant|>:{% endif %}` },
  { name: 'text_to_image', template: `${conversation(bos)}{% if add_generation_prompt %}<|Assistant|>:<begin_of_image>{% endif %}` },
];

const BUILDERS: Record<GraphName, (d: BundleDims, rng: SeededRandom, weights: WeightFormat) => GraphBuilder> = {
  prepare_inputs_embeds: buildPrepareInputsEmbeds,
  language_model: buildLanguageModel,
  lm_head: buildLmHead,
  gen_head: buildGenHead,
  gen_img_embeds: buildGenImgEmbeds,
  image_decode: buildImageDecode,
};

const LANGUAGE_MODELS = { concat: buildLanguageModel, mha: buildLanguageModelMha, gqa: buildLanguageModelGqa, 'gqa-separate': buildLanguageModelGqaSeparate };

export interface MakeBundleOptions {
  out: string;
  seed: number;
  dims: BundleDims;
  /** Which variants to write (default fp32 only); q4 turns linear layers into 4-bit MatMulNBits. */
  variants?: WeightFormat[];
  /**
   * The language model's attention: plain ONNX Concat + mask (default), or onnxruntime-genai's
   * builder forms with com.microsoft ops: MultiHeadAttention (web target), GroupQueryAttention on a
   * packed q/k/v projection (cpu/cuda target), GroupQueryAttention on separate projections with
   * RotaryEmbedding and position_ids (dml target). The same seed gives every form the same weights.
   */
  attention?: 'concat' | 'mha' | 'gqa' | 'gqa-separate';
  /** MatMulNBits accuracy_level in the q4 graphs: 0 (float32 compute) or 4 (int8 compute, default). */
  accuracyLevel?: 0 | 4;
  /** Whether the chat templates write BOS themselves (default true). */
  templateBos?: boolean;
  /**
   * How tokenizer_config.json stores the named chat templates: a list of {name, template} (default)
   * or an object name -> template. transformers.js and our loader accept both.
   */
  chatTemplateForm?: 'list' | 'object';
}

/**
 * Writes a complete bundle in the public export's layout with random weights from `seed`.
 * The same seed and dims give the same bytes.
 */
export function makeBundle({
  out, seed, dims: requested, variants = ['fp32'], attention = 'concat', chatTemplateForm = 'list', accuracyLevel = 4, templateBos = true,
}: MakeBundleOptions): void {
  const tokenizer = buildBpeTokenizer(requested.bpeMerges, SPECIALS, requested.specialTokenBase);
  const dims = { ...requested, vocab: requested.vocab || tokenizer.size };
  if (tokenizer.size > dims.vocab) throw new Error(`vocab ${dims.vocab} is smaller than the tokenizer (${tokenizer.size})`);
  const id = (t: string) => tokenizer.specialIds.get(t)!;
  if (Math.min(...tokenizer.specialIds.values()) < dims.codebookSize) {
    // transformers.js suppresses EOS in image logits while min_new_tokens runs; keep ids apart.
    throw new Error('special token ids must lie above the image codebook');
  }

  if (variants.includes('q4f16') && attention === 'concat') throw new Error('the q4f16 variant is built for the builder forms only: use attention mha or gqa');
  mkdirSync(join(out, 'onnx'), { recursive: true });
  const rng = new SeededRandom(seed);
  /** Graph file -> number of .onnx_data chunks, for config.json's use_external_data_format. */
  const externalData: Record<string, number> = {};
  for (const variant of variants) {
    for (const [name, build] of Object.entries(BUILDERS) as [GraphName, (typeof BUILDERS)[GraphName]][]) {
      // q4f16 is the language model's variant (float16 activations and KV cache); the other graphs
      // are loaded in another dtype beside it (a float16 boundary the engine converts).
      if (variant === 'q4f16' && name !== 'language_model') continue;
      const file = graphFileName(name, variant);
      // The same fork per graph for every variant: q4 quantizes the very weights fp32 holds.
      const builder = name === 'language_model' ? LANGUAGE_MODELS[attention] : build;
      const graph = builder(dims, rng.fork(name), variant);
      graph.setMatMulNBitsAccuracy(accuracyLevel);
      const { model, sidecar } = graph.build(sidecarName(name, variant, file));
      writeFileSync(join(out, 'onnx', file), model);
      if (sidecar) {
        writeFileSync(join(out, 'onnx', `${file}_data`), sidecar);
        externalData[file] = 1;
      }
    }
  }

  for (const variant of variants.filter((v) => v !== 'q4f16')) {
    // Unused by transformers.js and by us, present in the export. prepare_inputs_embeds' stream, so
    // the two graphs hold the same embedding table.
    const embedTokens = buildEmbedTokens(dims, rng.fork('prepare_inputs_embeds'), variant);
    embedTokens.setMatMulNBitsAccuracy(accuracyLevel);
    const { model } = embedTokens.build();
    writeFileSync(join(out, 'onnx', `embed_tokens${DTYPE_SUFFIX[variant]}.onnx`), model);
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
    // Per file, as transformers.js reads it (utils/model-loader.js): only files listed load sidecars.
    'transformers.js_config': { use_external_data_format: externalData },
  });
  json('generation_config.json', {
    bos_token_id: id(BOS),
    eos_token_id: id(EOS),
    do_sample: true,
    num_image_tokens: gridSize(dims) ** 2,
    pad_token_id: id(CFG_PAD),
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
    additional_special_tokens: ADDITIONAL_SPECIALS,
    bos_token: BOS,
    eos_token: EOS,
    pad_token: TOKENIZER_PAD,
  });
  json('tokenizer_config.json', {
    bos_token: BOS,
    eos_token: EOS,
    pad_token: TOKENIZER_PAD,
    clean_up_tokenization_spaces: false,
    model_max_length: dims.maxPositions,
    tokenizer_class: 'LlamaTokenizerFast',
    chat_template: chatTemplateForm === 'object' ? Object.fromEntries(chatTemplates(templateBos).map((t) => [t.name, t.template])) : chatTemplates(templateBos),
  });
}

/**
 * The sidecar a graph's weights go to, or none (all inline). As in the public export, only the
 * fp32 language model has one (its weights pass protobuf's 2 GB at full size); the q4 graphs, like
 * the export's language_model_q4.onnx, hold their weights inline.
 */
function sidecarName(graph: GraphName, variant: WeightFormat, file: string): string | undefined {
  return graph === 'language_model' && variant === 'fp32' ? `${file}_data` : undefined;
}
