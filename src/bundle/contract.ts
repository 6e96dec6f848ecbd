/**
 * The bundle contract: file names and tensor names of the public Janus-Pro ONNX exports
 * (onnx-community/Janus-Pro-1B-ONNX), as transformers.js' MultiModalityCausalLM feeds them.
 * models/README.md documents the same in prose; sizes are never fixed here, they come from files.
 */

export const GRAPH_NAMES = [
  'prepare_inputs_embeds',
  'language_model',
  'lm_head',
  'gen_head',
  'gen_img_embeds',
  'image_decode',
] as const;
export type GraphName = (typeof GRAPH_NAMES)[number];

/** File-name suffix of each dtype variant, as in the export and transformers.js. */
export const DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  bnb4: '_bnb4',
  q4f16: '_q4f16',
} as const;
export type GraphDtype = keyof typeof DTYPE_SUFFIX;

export const CONFIG_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
] as const;

export const GRAPH_IO = {
  prepare_inputs_embeds: {
    inputIds: 'input_ids',
    pixelValues: 'pixel_values',
    imagesSeqMask: 'images_seq_mask',
    imagesEmbMask: 'images_emb_mask',
    inputsEmbeds: 'inputs_embeds',
  },
  language_model: {
    inputsEmbeds: 'inputs_embeds',
    attentionMask: 'attention_mask',
    positionIds: 'position_ids',
    pastKey: (i: number) => `past_key_values.${i}.key`,
    pastValue: (i: number) => `past_key_values.${i}.value`,
    presentKey: (i: number) => `present.${i}.key`,
    presentValue: (i: number) => `present.${i}.value`,
    hiddenStates: 'hidden_states',
  },
  lm_head: { hiddenStates: 'hidden_states', logits: 'logits' },
  gen_head: { hiddenStates: 'hidden_states', logits: 'logits' },
  gen_img_embeds: { imageIds: 'image_ids', inputsEmbeds: 'inputs_embeds' },
  image_decode: { generatedTokens: 'generated_tokens', decodedImage: 'decoded_image' },
} as const;

export function graphFileName(graph: GraphName, dtype: GraphDtype): string {
  return `${graph}${DTYPE_SUFFIX[dtype]}.onnx`;
}
