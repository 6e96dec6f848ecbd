import type { EncodedPrompt } from '../decoding/chat-tokenizer.ts';
import type { PromptRow } from '../decoding/prompt-prefill.ts';

/**
 * How the unconditional CFG row is built.
 * - janus: the official recipe (deepseek-ai/Janus generation_inference.py): BOS, then pad for every
 *   token up to the last (<begin_of_image>), images dropped, all positions attended. The prompt
 *   starts with BOS (ChatTokenizer.prompt puts it there when the template does not).
 * - transformers-js: as transformers.js' generate_images; the whole row is pad with attention 0.
 */
export type UncondMode = 'janus' | 'transformers-js';

/** The distinct prompt rows of an image request: [cond] or, with guidance, [cond, uncond]. */
export function imagePromptRows(prompt: EncodedPrompt, guided: boolean, uncond: UncondMode, pad: number): PromptRow[] {
  const cond: PromptRow = { ids: prompt.ids, imageMask: prompt.imageMask, attended: true };
  return guided ? [cond, uncondRow(prompt, uncond, pad)] : [cond];
}

function uncondRow(prompt: EncodedPrompt, mode: UncondMode, pad: number): PromptRow {
  const len = prompt.ids.length;
  const ids = new Array<number>(len).fill(pad);
  if (mode === 'janus') {
    ids[0] = prompt.ids[0];
    ids[len - 1] = prompt.ids[len - 1];
    return { ids, imageMask: new Uint8Array(len), attended: true };
  }
  // transformers.js keeps the batch-1 image mask, so image features land in the pad row too.
  return { ids, imageMask: prompt.imageMask, attended: false };
}
