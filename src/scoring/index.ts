export type { PromptScorer, ScorerImage, SubjectScorer } from './types.ts';
export { DinoScorer, type DinoScorerOptions } from './dino-scorer.ts';
export { ClipScorer, type ClipScorerOptions } from './clip-scorer.ts';
export { DEFAULT_RANK_OPTIONS, orderByRank, rankScore, scoreGroup, type CandidateScore, type GroupScores, type RankOptions } from './ranking.ts';
export { dreamBenchPixels, parseImageProcessorConfig, processorPixels, resizeTarget, type ImageProcessorConfig } from './image-processor.ts';
export { loadScorers, type LoadedScorers } from './load-scorers.ts';
export type { ScorerDtype, ScorerSessionOptions } from './session.ts';
