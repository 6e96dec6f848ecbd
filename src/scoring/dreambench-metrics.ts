import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { ClipScorer } from './clip-scorer.ts';
import { DinoScorer } from './dino-scorer.ts';
import type { ScorerImage } from './types.ts';
import { mean } from './vectors.ts';

/** DreamBench's three figures for one image. */
export interface BenchFigures {
  /** Mean DINO ViT-S/16 CLS cosine with the subject's real photos (the papers' transform). */
  dino: number;
  /** Mean CLIP image-embedding cosine with the real photos. */
  clipI: number;
  /** CLIP image-text cosine with the prompt. */
  clipT: number;
}

/**
 * The evaluation models, loaded from a scorers folder: DINO with the DreamBench transform (resize
 * 256 bicubic, centre crop 224, ImageNet statistics), CLIP with its processor config.
 */
export class DreamBenchMetrics {
  private constructor(private readonly dino: DinoScorer, private readonly clip: ClipScorer) {}

  static async load(dir: string, threads?: number): Promise<DreamBenchMetrics> {
    const find = (name: string) => [join(dir, name), join(dir, 'Xenova', name)].find((p) => existsSync(join(p, 'onnx')));
    const dinoDir = find('dino-vits16');
    const clipDir = find('clip-vit-base-patch32');
    if (!dinoDir || !clipDir) throw new Error(`${dir} needs dino-vits16/ and clip-vit-base-patch32/ for the evaluation`);
    const dino = await DinoScorer.load(dinoDir, { protocol: 'dreambench', threads });
    const clip = await ClipScorer.load(clipDir, { threads });
    return new DreamBenchMetrics(dino, clip);
  }

  /** Figures for each image against the same photos and prompt (each tower runs the images batched). */
  async measure(images: readonly ScorerImage[], photos: readonly ScorerImage[], prompt: string): Promise<BenchFigures[]> {
    const [dinoSims, clipSims, clipT] = await Promise.all([
      this.dino.similarities(images, photos),
      this.clip.similarities(images, photos),
      this.clip.alignments(images, prompt),
    ]);
    return images.map((_, i) => ({ dino: mean(dinoSims[i]), clipI: mean(clipSims[i]), clipT: clipT[i] }));
  }

  async release(): Promise<void> {
    await Promise.all([this.dino.release(), this.clip.release()]);
  }
}

/** Mean of each figure over a list (NaN for an empty list). */
export function meanFigures(list: readonly BenchFigures[]): BenchFigures {
  if (list.length === 0) return { dino: NaN, clipI: NaN, clipT: NaN };
  return { dino: mean(list.map((f) => f.dino)), clipI: mean(list.map((f) => f.clipI)), clipT: mean(list.map((f) => f.clipT)) };
}

