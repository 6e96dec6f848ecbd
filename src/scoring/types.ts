import type { RgbImage } from '../images/load.ts';

/** A candidate or subject photo: decoded RGB, or encoded bytes (PNG, JPEG, WebP, GIF, AVIF) decoded as transformers.js does. */
export type ScorerImage = RgbImage | Uint8Array;

/**
 * Subject fidelity: how much a candidate shows the subject of the photos.
 *
 * Range [-1, 1]: the mean, over the subject photos, of the cosine similarity between the candidate's
 * embedding and the photo's (DINO: the CLS token of last_hidden_state; CLIP-I: image_embeds). It is
 * an absolute number, not relative to the other candidates of a group, so it compares across
 * requests made with the same model and protocol (it is DreamBench's DINO / CLIP-I per image).
 * Real models give about 0.3 (unrelated) to 0.9 (same subject); 1 is an identical image.
 */
export interface SubjectScorer {
  readonly name: string;
  fidelity(candidate: ScorerImage, subjectPhotos: readonly ScorerImage[]): Promise<number>;
  /** Cosine of every candidate (rows) with every subject photo (columns), in one batched run each. */
  similarities(candidates: readonly ScorerImage[], subjectPhotos: readonly ScorerImage[]): Promise<number[][]>;
}

/**
 * Prompt alignment: how much a candidate shows what the prompt says.
 *
 * Range [-1, 1]: the cosine similarity of the CLIP image embedding and the CLIP text embedding of
 * the prompt (DreamBench's CLIP-T, not scaled by 100 or by the logit scale, not a softmax over the
 * group), so it compares across requests. CLIP ViT-B/32 gives about 0.15-0.2 for an unrelated
 * prompt and 0.3-0.35 for a good match.
 */
export interface PromptScorer {
  readonly name: string;
  alignment(candidate: ScorerImage, prompt: string): Promise<number>;
  /** alignment() for several images and one prompt, batched. */
  alignments(images: readonly ScorerImage[], prompt: string): Promise<number[]>;
}
