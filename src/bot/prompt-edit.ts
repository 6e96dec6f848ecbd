/**
 * A reply in a result's thread read as an edit of the request it refines, the way people write them:
 * "now make him wear sunglasses" adds to "my dog wearing a space suit on the moon" (the subject and
 * scene stay), "change the moon to Mars" swaps words, "without the hat" takes a phrase out, and
 * "new prompt: ..." starts over. `change` says in words what was done.
 */
export interface PromptEdit {
  prompt: string;
  change: string;
}

const FILLER = /^(?:(?:and|now|also|then|but|ok|okay|please|pls|can you|could you|would you|let's|lets|maybe|try)\b[\s,]*)+/i;
const START_OVER = /^(?:new prompt|start over|start again|from scratch|instead)\s*[:,-]\s*(.+)$/i;
const SWAP = /^(?:change|replace|swap|turn|make)\s+(.+?)\s+(?:to|with|into|for)\s+(.+)$/i;
const INSTEAD_OF = /^(.+?)\s+instead of\s+(.+)$/i;
const REMOVE = /^(?:remove|drop|take away|take off|get rid of|without|no more|no)\s+(?:the\s+|his\s+|her\s+|its\s+|their\s+)?(.+)$/i;
const WHO = String.raw`(?:him|her|it|them|he|she|they|the \w+|my \w+|his \w+|her \w+)`;
const VERBS: Record<string, string> = {
  wear: 'wearing', hold: 'holding', eat: 'eating', ride: 'riding', carry: 'carrying', drive: 'driving',
  'play with': 'playing with', 'sit on': 'sitting on', 'sit in': 'sitting in', 'stand on': 'standing on',
  'stand in': 'standing in', 'fly over': 'flying over', 'look at': 'looking at', 'jump over': 'jumping over',
  have: 'with', be: '', look: 'looking',
};
const VERB_NAMES = Object.keys(VERBS).sort((a, b) => b.length - a.length).join('|');
const MAKE_DO = new RegExp(String.raw`^(?:make|have|let|get)\s+${WHO}\s+(${VERB_NAMES})\s+(.+)$`, 'i');
const DOES = new RegExp(String.raw`^${WHO}\s+(?:is\s+|should\s+be\s+)?(${Object.values(VERBS).filter(Boolean).join('|')})\s+(.+)$`, 'i');
const GIVE = new RegExp(String.raw`^(?:give|put)\s+${WHO}\s+(?:on\s+)?(.+)$`, 'i');
const ADD = /^(?:add|include|put in)\s+(.+)$/i;
const MAKE_IT = /^(?:make|set)\s+(?:it|this|the (?:picture|image|photo|scene|background))\s+(.+)$/i;

export function editPrompt(current: string, reply: string): PromptEdit {
  const said = reply.trim().replace(/[.!]+$/, '').trim();
  const restart = START_OVER.exec(said);
  if (restart) return { prompt: restart[1].trim(), change: 'replaced the request with your new one' };
  const words = said.replace(FILLER, '').trim();

  const swap = SWAP.exec(words);
  const instead = swap ? undefined : INSTEAD_OF.exec(words);
  const [said1, to] = swap ? [swap[1], swap[2]] : instead ? [instead[2], instead[1]] : [];
  // "the moon" where the request has it, else "moon".
  const from = said1 && findPhrase(current, said1) < 0 ? said1.replace(/^the\s+/i, '') : said1;
  if (from && to) {
    const at = findPhrase(current, from);
    if (at >= 0) {
      return { prompt: tidy(current.slice(0, at) + to + current.slice(at + from.length)), change: `changed “${from}” to “${to}”` };
    }
  }

  const remove = REMOVE.exec(words);
  if (remove) {
    const phrase = remove[1];
    const at = findPhrase(current, phrase);
    if (at >= 0) {
      // The phrase goes with the word that attached it ("wearing a hat", "with a hat", ", a hat").
      const before = current.slice(0, at).replace(/(?:,\s*|\s+)(?:(?:and\s+)?(?:wearing|with|holding|in|and)\s+)?(?:a|an|the|his|her|its|their)?\s*$/i, '');
      return { prompt: tidy(before + current.slice(at + phrase.length)), change: `took out “${phrase}”` };
    }
    return add(current, `without ${phrase}`);
  }

  const makeDo = MAKE_DO.exec(words);
  if (makeDo) {
    const verb = VERBS[makeDo[1].toLowerCase()];
    return add(current, verb ? `${verb} ${makeDo[2]}` : makeDo[2]);
  }
  const does = DOES.exec(words);
  if (does) return add(current, `${does[1].toLowerCase()} ${does[2]}`);
  const give = GIVE.exec(words);
  if (give) return add(current, /^(?:with|wearing)\b/i.test(give[1]) ? give[1] : `with ${give[1]}`);
  const plus = ADD.exec(words);
  if (plus) return add(current, /^(?:with|wearing)\b/i.test(plus[1]) ? plus[1] : `with ${plus[1]}`);
  const makeIt = MAKE_IT.exec(words);
  if (makeIt) return add(current, makeIt[1]);
  return add(current, words || said);
}

function add(current: string, phrase: string): PromptEdit {
  const base = current.trim().replace(/[.,;\s]+$/, '');
  return { prompt: `${base}, ${phrase.trim()}`, change: `added “${phrase.trim()}”` };
}

/** Where `phrase` stands in `text` as whole words, ignoring case; -1 when it does not. */
function findPhrase(text: string, phrase: string): number {
  const escaped = phrase.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(String.raw`(?<![\p{L}\p{N}])${escaped}(?![\p{L}\p{N}])`, 'iu').exec(text);
  return m ? m.index : -1;
}

function tidy(text: string): string {
  return text.replace(/\s+,/g, ',').replace(/,\s*,/g, ',').replace(/\s{2,}/g, ' ').replace(/^[\s,]+|[\s,]+$/g, '');
}
