import type { Bundle } from '../bundle/load-bundle.ts';
import type { ChatMessage } from '../decoding/chat-tokenizer.ts';

/**
 * The X-CoT prompt texts, in one place. Stage 1 (grounding) asks the model to say what defines the
 * subject in the images; stage 2 (generation) shows the images again with that grounding and the
 * user's prompt, and opens an image. A bundle may replace the texts with an "xcot_prompts" object
 * in tokenizer_config.json ({grounding, generation}), using the same {placeholders}.
 */
export const DEFAULT_XCOT_PROMPTS = {
  grounding:
    'These photos show one subject{name}. Describe what defines it so it can be drawn again: ' +
    'its kind, shape, colours, textures, markings and accessories.{context}',
  generation: 'The subject{name}: {grounding}\nDraw this subject: {prompt}',
};

export interface SubjectContext {
  /** What the user calls the subject ("Rex"). */
  name?: string;
  /** Anything else the user said about it. */
  context?: string;
}

/** Chat templates the prompts are rendered with: the bundle's own two. */
export const GROUNDING_TEMPLATE = 'default';
export const GENERATION_TEMPLATE = 'text_to_image';
export const USER_ROLE = '<|User|>';

export function xcotPrompts(bundle: Bundle): typeof DEFAULT_XCOT_PROMPTS {
  const custom = (bundle.tokenizerConfig as Record<string, unknown>).xcot_prompts as Partial<typeof DEFAULT_XCOT_PROMPTS> | undefined;
  return {
    grounding: typeof custom?.grounding === 'string' ? custom.grounding : DEFAULT_XCOT_PROMPTS.grounding,
    generation: typeof custom?.generation === 'string' ? custom.generation : DEFAULT_XCOT_PROMPTS.generation,
  };
}

export function groundingMessages(texts: typeof DEFAULT_XCOT_PROMPTS, imageTag: string, imageCount: number, subject: SubjectContext): ChatMessage[] {
  const text = fill(texts.grounding, {
    name: subject.name ? ` called "${subject.name}"` : '',
    context: subject.context ? `\nWhat its owner says about it: ${subject.context}` : '',
  });
  return [{ role: USER_ROLE, content: withImages(imageTag, imageCount, text) }];
}

export function generationMessages(
  texts: typeof DEFAULT_XCOT_PROMPTS,
  imageTag: string,
  imageCount: number,
  subject: SubjectContext,
  grounding: string,
  prompt: string,
): ChatMessage[] {
  if (imageCount === 0 && !grounding) return [{ role: USER_ROLE, content: prompt }];
  const text = fill(texts.generation, { name: subject.name ? ` (${subject.name})` : '', grounding, prompt });
  return [{ role: USER_ROLE, content: withImages(imageTag, imageCount, text) }];
}

function withImages(tag: string, count: number, text: string): string {
  return `${Array.from({ length: count }, () => `${tag}\n`).join('')}${text}`;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? values[k] : m));
}
