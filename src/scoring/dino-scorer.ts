import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseImageProcessorConfig, type PixelProtocol } from './image-processor.ts';
import { onnxPath, openScorerSession, type ScorerSessionOptions } from './session.ts';
import type { ScorerImage, SubjectScorer } from './types.ts';
import { dot, mean } from './vectors.ts';
import { VisionEmbedder } from './vision-embedder.ts';

export interface DinoScorerOptions extends ScorerSessionOptions {
  /**
   * processor (default): preprocessor_config.json as transformers.js applies it (what its
   * image-feature-extraction pipeline gives). dreambench: the papers' evaluation transform
   * (resize 256 bicubic, center crop 224, ImageNet mean/std), for numbers comparable with them.
   */
  protocol?: 'processor' | 'dreambench';
  batchSize?: number;
}

/**
 * Subject fidelity with DINO ViT-S/16 (a folder in Xenova/dino-vits16's layout: onnx/model.onnx,
 * preprocessor_config.json): the CLS token of last_hidden_state, cosine against each subject photo,
 * averaged.
 */
export class DinoScorer implements SubjectScorer {
  readonly name: string;

  private constructor(private readonly embedder: VisionEmbedder, protocol: string) {
    this.name = protocol === 'dreambench' ? 'dino-dreambench' : 'dino';
  }

  static async load(dir: string, options: DinoScorerOptions = {}): Promise<DinoScorer> {
    const protocolName = options.protocol ?? 'processor';
    const protocol: PixelProtocol = protocolName === 'dreambench'
      ? { kind: 'dreambench' }
      : { kind: 'processor', config: parseImageProcessorConfig(JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8'))) };
    const session = await openScorerSession(onnxPath(dir, 'model', options.dtype), ['pixel_values'], ['last_hidden_state'], options);
    return new DinoScorer(new VisionEmbedder(session, 'last_hidden_state', protocol, options.batchSize), protocolName);
  }

  /** Unit-length CLS features, one per image. */
  embed(images: readonly ScorerImage[]): Promise<Float64Array[]> {
    return this.embedder.embed(images);
  }

  async similarities(candidates: readonly ScorerImage[], subjectPhotos: readonly ScorerImage[]): Promise<number[][]> {
    const all = await this.embed([...candidates, ...subjectPhotos]);
    const photos = all.slice(candidates.length);
    return all.slice(0, candidates.length).map((c) => photos.map((p) => dot(c, p)));
  }

  async fidelity(candidate: ScorerImage, subjectPhotos: readonly ScorerImage[]): Promise<number> {
    if (subjectPhotos.length === 0) throw new Error('fidelity needs at least one subject photo');
    return mean((await this.similarities([candidate], subjectPhotos))[0]);
  }

  release(): Promise<void> {
    return this.embedder.release();
  }
}
