import type { JanusModel, PixelBatch } from '../model/janus-model.ts';
import type { ChatTokenizer } from '../decoding/chat-tokenizer.ts';
import type { PromptCaches } from '../decoding/prompt-caches.ts';
import { prefillPrompt } from '../decoding/prompt-prefill.ts';
import { GROUNDING_TEMPLATE, USER_ROLE } from './xcot-prompts.ts';
import { yesProbability, type YesNoTokens } from './yes-no-tokens.ts';

export const JUDGE_QUESTIONS = {
  subject: 'Is the subject in the last image the same as in the first images? Answer yes or no.',
  prompt: 'Does this image show: {prompt}? Answer yes or no.',
};

/** Self-judge scores, each P(yes) / (P(yes) + P(no)) in [0, 1]. */
export interface SelfJudgement {
  /** Per candidate: the subject question, with the subject photos first and the candidate last. */
  fidelity: number[];
  /** Per candidate: the prompt question about the candidate alone. */
  alignment: number[];
  /** Per subject photo: the prompt question about that photo (the copy guard's baseline). */
  photoAlignment: number[];
}

export interface JudgeContext {
  model: JanusModel;
  caches: PromptCaches;
  tokenizer: ChatTokenizer;
  imageTag: string;
  answers: YesNoTokens;
  signal?: AbortSignal;
}

/**
 * The bundle's understanding path asked yes/no questions about candidates. The subject question
 * is laid out like the grounding prompt (the same template, the photos first, each on its own
 * line), and split after the last subject photo: its prefix is the one grounding and generation
 * stored, so a known subject's photos are not run again, and a cold run splits the same way.
 */
export async function selfJudge(ctx: JudgeContext, subject: PixelBatch, candidates: PixelBatch, prompt: string): Promise<SelfJudgement> {
  const fidelity: number[] = [];
  const alignment: number[] = [];
  const photoAlignment: number[] = [];
  const promptQuestion = JUDGE_QUESTIONS.prompt.replace('{prompt}', prompt.trim());
  for (let i = 0; i < candidates.count; i++) {
    const candidate = slice(candidates, i);
    fidelity.push(await ask(ctx, concat(subject, candidate), subject.count, JUDGE_QUESTIONS.subject));
    alignment.push(await ask(ctx, candidate, 0, promptQuestion));
  }
  for (let i = 0; i < subject.count; i++) photoAlignment.push(await ask(ctx, slice(subject, i), 0, promptQuestion));
  return { fidelity, alignment, photoAlignment };
}

/** P(yes) for one question about `images`, the prompt split after the first `prefixImages` of them. */
export async function ask(ctx: JudgeContext, images: PixelBatch, prefixImages: number, question: string): Promise<number> {
  const content = `${`${ctx.imageTag}\n`.repeat(images.count)}${question}`;
  const encoded = ctx.tokenizer.prompt(GROUNDING_TEMPLATE, [{ role: USER_ROLE, content }], images.count);
  const row = { ids: encoded.ids, imageMask: encoded.imageMask, attended: true };
  const split = prefixImages > 0 ? endOfImage(encoded.imageMask, prefixImages * ctx.model.shape.imageTokens) : 0;
  const { hidden } = await prefillPrompt(ctx.model, ctx.caches, [row], images, { split, signal: ctx.signal, storePrefix: prefixImages > 0 });
  return yesProbability(await ctx.model.textLogits(hidden), ctx.answers);
}

/** The position after the <end_of_image> that closes the image holding the n-th image position. */
function endOfImage(mask: Uint8Array, n: number): number {
  let seen = 0;
  for (let p = 0; p < mask.length; p++) {
    seen += mask[p];
    if (seen === n) return p + 2;
  }
  throw new RangeError(`the prompt has fewer than ${n} image positions`);
}

function slice(batch: PixelBatch, i: number): PixelBatch {
  const per = batch.data.length / batch.count;
  return { data: batch.data.subarray(i * per, (i + 1) * per), count: 1 };
}

function concat(a: PixelBatch, b: PixelBatch): PixelBatch {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { data, count: a.count + b.count };
}
