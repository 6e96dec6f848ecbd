import type { ChatTokenizer } from '../decoding/chat-tokenizer.ts';

/** How an answer may start: both cases, with and without the space the template leaves after "Assistant:". */
const YES = ['Yes', 'yes', 'YES', ' Yes', ' yes', ' YES'];
const NO = ['No', 'no', 'NO', ' No', ' no', ' NO'];

export interface YesNoTokens {
  yes: number[];
  no: number[];
}

/**
 * The token ids an answer of yes or no starts with, read from the bundle's tokenizer: the first
 * token of each spelling. A real Janus tokenizer has each spelling as one token; a small one
 * splits them, and then the first piece stands for the word. An id both answers start with is
 * dropped (it says nothing about which one follows).
 */
export function yesNoTokens(tokenizer: ChatTokenizer): YesNoTokens {
  const first = (words: string[]) => new Set(words.map((w) => tokenizer.encode(w, 0).ids[0]).filter((id) => id !== undefined));
  const yes = first(YES);
  const no = first(NO);
  const both = [...yes].filter((id) => no.has(id));
  for (const id of both) {
    yes.delete(id);
    no.delete(id);
  }
  if (yes.size === 0 || no.size === 0) throw new Error('the tokenizer has no token that starts only "yes" or only "no"');
  return { yes: [...yes].sort((a, b) => a - b), no: [...no].sort((a, b) => a - b) };
}

/**
 * P(yes) / (P(yes) + P(no)) from next-token logits (the VQAScore idea), where P(yes) is the
 * softmax mass of every yes token. The softmax's normalizer cancels, so only these logits count.
 */
export function yesProbability(logits: ArrayLike<number>, tokens: YesNoTokens): number {
  const lse = (ids: number[]) => {
    const m = Math.max(...ids.map((i) => logits[i]));
    return m + Math.log(ids.reduce((s, i) => s + Math.exp(logits[i] - m), 0));
  };
  return 1 / (1 + Math.exp(lse(tokens.no) - lse(tokens.yes)));
}
