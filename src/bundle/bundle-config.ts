import { z } from 'zod';

/** The parts of the bundle's JSON files the pipeline reads; unknown keys are kept and ignored. */

export const ModelConfigSchema = z.looseObject({
  model_type: z.literal('multi_modality'),
  language_config: z.looseObject({
    num_hidden_layers: z.number().int().positive().optional(),
    vocab_size: z.number().int().positive().optional(),
    max_position_embeddings: z.number().int().positive().optional(),
  }).optional(),
});

export const GenerationConfigSchema = z.looseObject({
  bos_token_id: z.number().int().nonnegative(),
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()).nonempty()]),
  pad_token_id: z.number().int().nonnegative().optional(),
  num_image_tokens: z.number().int().positive().optional(),
});

export const PreprocessorConfigSchema = z.looseObject({
  image_size: z.number().int().positive(),
  background_color: z.array(z.number()).length(3).optional(),
  image_mean: z.array(z.number()).length(3).optional(),
  image_std: z.array(z.number()).length(3).optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  min_size: z.number().int().positive().optional(),
});

export const ProcessorConfigSchema = z.looseObject({
  image_tag: z.string().min(1),
  image_start_tag: z.string().min(1),
  image_end_tag: z.string().min(1),
  num_image_tokens: z.number().int().positive(),
  pad_tag: z.string().optional(),
});

const NamedTemplate = z.object({ name: z.string(), template: z.string() });
/**
 * chat_template is one template, a list of {name, template}, or an object name -> template
 * (transformers.js accepts all three: tokenization_utils.js turns the list into the object).
 */
export const TokenizerConfigSchema = z.looseObject({
  chat_template: z.union([z.string(), z.array(NamedTemplate), z.record(z.string(), z.string())]).optional(),
  bos_token: z.union([z.string(), z.looseObject({ content: z.string() })]).nullish(),
  eos_token: z.union([z.string(), z.looseObject({ content: z.string() })]).nullish(),
  pad_token: z.union([z.string(), z.looseObject({ content: z.string() })]).nullish(),
});

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type GenerationConfig = z.infer<typeof GenerationConfigSchema>;
export type PreprocessorConfig = z.infer<typeof PreprocessorConfigSchema>;
export type ProcessorConfig = z.infer<typeof ProcessorConfigSchema>;
export type TokenizerConfig = z.infer<typeof TokenizerConfigSchema>;

/** Chat templates by name, from either named form; a single string is the one named "default". */
export function chatTemplates(cfg: TokenizerConfig): Map<string, string> {
  const t = cfg.chat_template;
  if (t === undefined) return new Map();
  if (typeof t === 'string') return new Map([['default', t]]);
  if (Array.isArray(t)) return new Map(t.map((x) => [x.name, x.template]));
  return new Map(Object.entries(t));
}

export function tokenContent(t: TokenizerConfig['bos_token']): string | undefined {
  if (t == null) return undefined;
  return typeof t === 'string' ? t : t.content;
}
