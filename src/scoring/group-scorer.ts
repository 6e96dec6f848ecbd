import { InputError } from '../errors.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';
import type { LoadedScorers } from './load-scorers.ts';
import { scoreGroup, type GroupScores, type RankOptions } from './ranking.ts';
import type { ScorerImage } from './types.ts';

export { SCORER_KINDS, type ScorerKind } from '../model-kinds.ts';

/** Scores a whole group at once and orders it (see ranking.ts for the rule and its copy guard). */
export interface GroupScorer {
  readonly name: string;
  score(args: { candidates: readonly ScorerImage[]; subjectPhotos: readonly ScorerImage[]; prompt: string }): Promise<GroupScores>;
}

/**
 * An embedding scorer's group ranking: fidelity from DINO (`dino`) or CLIP-I (`clip`), alignment
 * from CLIP-T either way, so both need the CLIP folder. Throws an InputError naming what is missing.
 */
export function embeddingGroupScorer(loaded: LoadedScorers, kind: EmbeddingScorerKind, dir: string, options?: RankOptions): GroupScorer {
  const { dino, clip } = loaded;
  const subject = kind === 'dino' ? dino : clip;
  if (!subject || !clip) {
    const needed = kind === 'dino' ? ['dino-vits16', 'clip-vit-base-patch32'] : ['clip-vit-base-patch32'];
    const absent = needed.filter((n) => loaded.missing.includes(n));
    throw new InputError('scorer_missing', `--scorer ${kind} needs ${absent.map((n) => `${n}/`).join(' and ')} in ${dir} (the transformers.js folders Xenova/${absent.join(', Xenova/')}).`);
  }
  return {
    name: kind === 'dino' ? `${subject.name}+clip-t` : 'clip-i+clip-t',
    score: ({ candidates, subjectPhotos, prompt }) => scoreGroup({ candidates, subjectPhotos, prompt, subject, promptScorer: clip, options }),
  };
}
