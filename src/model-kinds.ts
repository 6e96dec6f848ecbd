/** Where the model runs. */
export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** Which scores rank a group: DINO or CLIP-I fidelity (both with CLIP-T), the bundle's self-judge, or none. */
export const SCORER_KINDS = ['dino', 'clip', 'self', 'none'] as const;
export type ScorerKind = (typeof SCORER_KINDS)[number];
/** The scorers that rank by image embeddings (they need a scorers folder, SCORER_DIR). */
export type EmbeddingScorerKind = Extract<ScorerKind, 'dino' | 'clip'>;

/** The scorer when none is named: dino where a scorers folder is given, else none (groups shown unranked). */
export function defaultScorer(scorerDir: string | undefined): ScorerKind {
  return scorerDir ? 'dino' : 'none';
}

export function isEmbeddingScorer(scorer: ScorerKind): scorer is EmbeddingScorerKind {
  return scorer === 'dino' || scorer === 'clip';
}
