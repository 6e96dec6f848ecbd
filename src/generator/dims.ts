/** Sizes of a generated bundle. Tiny by default; the engine issue passes Janus-Pro-1B's real ones. */
export interface BundleDims {
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  intermediate: number;
  /** lm_head rows; at least the tokenizer's size, 0 for exactly the tokenizer's size. */
  vocab: number;
  maxPositions: number;
  ropeTheta: number;
  rmsEps: number;
  visionWidth: number;
  visionHeads: number;
  visionLayers: number;
  imageSize: number;
  patchSize: number;
  /** VQ codebook size = image-token vocabulary. */
  codebookSize: number;
  /** VQ code dimension and gen_embed width (8 in Janus). */
  codeDim: number;
  /** Widest VQ decoder channel count (at 24x24); halves with each upsampling, at least 4. */
  decoderChannels: number;
  /** BPE merges to learn for the fixture tokenizer. */
  bpeMerges: number;
  /** Id of the first special token (Janus: 100000, BOS); 0 puts them right after the BPE vocabulary. */
  specialTokenBase: number;
}

export const TINY_DIMS: BundleDims = {
  hidden: 64,
  layers: 2,
  heads: 4,
  headDim: 16,
  intermediate: 172,
  vocab: 0,
  maxPositions: 4096,
  ropeTheta: 10000,
  rmsEps: 1e-6,
  visionWidth: 32,
  visionHeads: 2,
  visionLayers: 1,
  imageSize: 384,
  patchSize: 16,
  codebookSize: 512,
  codeDim: 8,
  decoderChannels: 32,
  bpeMerges: 600,
  specialTokenBase: 0,
};

/** Janus-Pro-1B's published dimensions (tech report table 1, config.json). */
export const JANUS_PRO_1B_DIMS: BundleDims = {
  hidden: 2048,
  layers: 24,
  heads: 16,
  headDim: 128,
  intermediate: 5632,
  vocab: 102400,
  maxPositions: 16384,
  ropeTheta: 10000,
  rmsEps: 1e-6,
  visionWidth: 1024,
  visionHeads: 16,
  visionLayers: 1,
  imageSize: 384,
  patchSize: 16,
  codebookSize: 16384,
  codeDim: 8,
  decoderChannels: 64,
  bpeMerges: 2000,
  specialTokenBase: 100000,
};

export function gridSize(d: BundleDims): number {
  return d.imageSize / d.patchSize;
}
