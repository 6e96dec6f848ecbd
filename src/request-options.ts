import { z } from 'zod';
import { InputError } from './errors.ts';
import { charCount } from './util/text-length.ts';

export const PROMPT_MAX_CHARS = 1000;
export const CONTEXT_MAX_CHARS = 500;
export const NAME_MAX_CHARS = 64;
export const MAX_COUNT = 4;
export const MAX_CANDIDATES = 8;

/** Trimmed text of at most `max` characters as Discord counts them (code points). */
function textOfAtMost(max: number, what: string) {
  return z.string().trim().refine((s) => charCount(s) <= max, `The ${what} is longer than ${max} characters.`);
}

/** Options of one generation, with defaults; every bound is checked here, once. */
export const GenerateOptionsSchema = z.object({
  prompt: textOfAtMost(PROMPT_MAX_CHARS, 'prompt').refine((s) => s.length > 0, 'The prompt is empty.'),
  seed: z.number().int('The seed must be a whole number.').min(0, 'The seed must be 0 or more.').max(2 ** 32 - 1, 'The seed must be below 4294967296.').optional(),
  cfgWeight: z.number().min(1, 'Guidance must be between 1 and 20.').max(20, 'Guidance must be between 1 and 20.').default(5),
  temperature: z.number().gt(0, 'Temperature must be above 0.').max(5, 'Temperature must be at most 5.').default(1),
  topK: z.number().int('top-k must be a whole number.').min(0, 'top-k must be 0 (off) or more.').optional(),
  greedy: z.boolean().default(false),
  uncond: z.enum(['janus', 'transformers-js'], 'The uncond convention must be janus or transformers-js.').default('janus'),
  count: z.number().int('The image count must be a whole number.').min(1, `The image count must be 1 to ${MAX_COUNT}.`).max(MAX_COUNT, `The image count must be 1 to ${MAX_COUNT}.`).default(1),
});
/** A group of candidates drawn together to be ranked (more than `count`: they are not all shown at once). */
export const CandidatesSchema = z
  .number()
  .int('The candidate count must be a whole number.')
  .min(1, `The candidate count must be 1 to ${MAX_CANDIDATES}.`)
  .max(MAX_CANDIDATES, `The candidate count must be 1 to ${MAX_CANDIDATES}.`);

export type GenerateOptionsInput = z.input<typeof GenerateOptionsSchema>;
export type GenerateOptions = z.output<typeof GenerateOptionsSchema>;

export const SubjectContextSchema = z.object({
  name: textOfAtMost(NAME_MAX_CHARS, 'name').optional(),
  context: textOfAtMost(CONTEXT_MAX_CHARS, 'context').optional(),
});

/** Parses with `schema`, turning the first problem into an InputError with its message. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const message = issue.code === 'custom' || issue.message.endsWith('.') ? issue.message : `${issue.path.join('.')}: ${issue.message}`;
  throw new InputError('invalid_option', message);
}
