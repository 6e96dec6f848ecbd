import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import ort from 'onnxruntime-node';
import { parseImageProcessorConfig } from './image-processor.ts';
import { onnxPath, openScorerSession, type ScorerSessionOptions } from './session.ts';
import type { PromptScorer, ScorerImage, SubjectScorer } from './types.ts';
import { dot, mean, normalize } from './vectors.ts';
import { VisionEmbedder } from './vision-embedder.ts';

export interface ClipScorerOptions extends ScorerSessionOptions {
  batchSize?: number;
}

const readJson = (dir: string, name: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, name), 'utf8'));

/**
 * CLIP-I (subject fidelity: image-image cosine of image_embeds) and CLIP-T (prompt alignment:
 * image-text cosine) on a folder in Xenova/clip-vit-base-patch32's layout: onnx/vision_model.onnx
 * and onnx/text_model.onnx (the towers of CLIPVisionModelWithProjection and
 * CLIPTextModelWithProjection), preprocessor_config.json, tokenizer.json, tokenizer_config.json.
 */
export class ClipScorer implements SubjectScorer, PromptScorer {
  readonly name = 'clip';
  private readonly textCache = new Map<string, Float64Array>();

  private constructor(
    private readonly images: VisionEmbedder,
    private readonly text: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly maxLength: number,
    private readonly bos: number,
    private readonly eos: number,
  ) {}

  static async load(dir: string, options: ClipScorerOptions = {}): Promise<ClipScorer> {
    const config = parseImageProcessorConfig(readJson(dir, 'preprocessor_config.json'));
    const tokenizerConfig = readJson(dir, 'tokenizer_config.json');
    const tokenizer = new Tokenizer(readJson(dir, 'tokenizer.json'), tokenizerConfig);
    const modelConfig = readJson(dir, 'config.json') as { text_config?: { max_position_embeddings?: number } };
    const maxLength = Math.min(
      typeof tokenizerConfig.model_max_length === 'number' ? tokenizerConfig.model_max_length : 77,
      modelConfig.text_config?.max_position_embeddings ?? 77,
    );
    const special = (key: string): number => {
      const v = tokenizerConfig[key];
      const content = typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content;
      const id = content === undefined ? undefined : tokenizer.token_to_id(content);
      if (id === undefined) throw new Error(`tokenizer_config.json ${key} is not in tokenizer.json`);
      return id;
    };
    const bos = special('bos_token');
    const eos = special('eos_token');
    const vision = await openScorerSession(onnxPath(dir, 'vision_model', options.dtype), ['pixel_values'], ['image_embeds'], options);
    try {
      const text = await openScorerSession(onnxPath(dir, 'text_model', options.dtype), ['input_ids'], ['text_embeds'], options);
      return new ClipScorer(new VisionEmbedder(vision, 'image_embeds', { kind: 'processor', config }, options.batchSize), text, tokenizer, maxLength, bos, eos);
    } catch (err) {
      await vision.release();
      throw err;
    }
  }

  /**
   * Token ids as Python's CLIPTokenizer gives them with truncation to max length (77): the
   * start token, at most 75 tokens of text, the end token. Unlike transformers.js, which cuts
   * the encoded ids at 77 and so loses the end token the text tower pools at.
   */
  tokenize(prompt: string): number[] {
    const ids = this.tokenizer.encode(prompt).ids;
    if (ids[0] !== this.bos || ids[ids.length - 1] !== this.eos) throw new Error('tokenizer.json does not add the start and end tokens');
    return ids.length <= this.maxLength ? ids : [...ids.slice(0, this.maxLength - 1), this.eos];
  }

  /** Unit-length image_embeds, one per image. */
  embedImages(images: readonly ScorerImage[]): Promise<Float64Array[]> {
    return this.images.embed(images);
  }

  /** Unit-length text_embeds of the prompt (kept per prompt string). */
  async embedText(prompt: string): Promise<Float64Array> {
    const cached = this.textCache.get(prompt);
    if (cached) return cached;
    const ids = this.tokenize(prompt);
    const result = await this.text.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    const v = normalize(result.text_embeds.data as Float32Array);
    if (this.textCache.size >= 64) this.textCache.delete(this.textCache.keys().next().value!);
    this.textCache.set(prompt, v);
    return v;
  }

  async similarities(candidates: readonly ScorerImage[], subjectPhotos: readonly ScorerImage[]): Promise<number[][]> {
    const all = await this.embedImages([...candidates, ...subjectPhotos]);
    const photos = all.slice(candidates.length);
    return all.slice(0, candidates.length).map((c) => photos.map((p) => dot(c, p)));
  }

  async fidelity(candidate: ScorerImage, subjectPhotos: readonly ScorerImage[]): Promise<number> {
    if (subjectPhotos.length === 0) throw new Error('fidelity needs at least one subject photo');
    return mean((await this.similarities([candidate], subjectPhotos))[0]);
  }

  async alignments(images: readonly ScorerImage[], prompt: string): Promise<number[]> {
    const [text, embeds] = await Promise.all([this.embedText(prompt), this.embedImages(images)]);
    return embeds.map((e) => dot(e, text));
  }

  async alignment(candidate: ScorerImage, prompt: string): Promise<number> {
    return (await this.alignments([candidate], prompt))[0];
  }

  async release(): Promise<void> {
    await Promise.all([this.images.release(), this.text.release()]);
  }
}
