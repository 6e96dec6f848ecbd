import { randomInt } from 'node:crypto';
import { loadBundle, type Bundle, type LoadBundleOptions } from '../bundle/load-bundle.ts';
import { JanusModel, type PixelBatch } from '../model/janus-model.ts';
import type { SessionOptions } from '../model/sessions.ts';
import { InputError } from '../errors.ts';
import { decodedToImage, encodeImage, type OutputFormat } from '../images/encode.ts';
import { loadImages } from '../images/load.ts';
import type { ImageLimits } from '../images/limits.ts';
import { parsePreprocessorConfig, stackPixelValues, toPixelValues, type PreprocessMode } from '../images/preprocess.ts';
import { ChatTokenizer } from '../decoding/chat-tokenizer.ts';
import { ImageBatcher, type ImageBatcherOptions } from '../decoding/image-batcher.ts';
import type { ProgressHooks } from '../decoding/progress.ts';
import { imagePromptRows } from './image-prompt-rows.ts';
import { PromptCaches, type PromptCacheOptions, type PromptCacheStats } from '../decoding/prompt-caches.ts';
import { prefixLength } from '../decoding/prompt-prefill.ts';
import { CandidatesSchema, GenerateOptionsSchema, parseOrThrow, SubjectContextSchema, type GenerateOptionsInput } from '../request-options.ts';
import { selfJudge, type SelfJudgement } from './self-judge.ts';
import { generateText } from '../decoding/text-loop.ts';
import { assertUserText } from '../decoding/user-text.ts';
import {
  generationMessages,
  GENERATION_TEMPLATE,
  groundingMessages,
  GROUNDING_TEMPLATE,
  xcotPrompts,
  type SubjectContext,
} from './xcot-prompts.ts';
import { yesNoTokens, type YesNoTokens } from './yes-no-tokens.ts';
import type { Device } from '../model-kinds.ts';

export interface PersonalizerOptions extends LoadBundleOptions, SessionOptions, PromptCacheOptions {
  /** Most decoder rows drawn together across concurrent generate() calls (2 per image with guidance). Default 8. */
  maxBatchRows?: ImageBatcherOptions['maxRows'];
  /** Pixel preparation: the Janus reference (default) or transformers.js' processor. */
  preprocess?: PreprocessMode;
}

export interface SubjectImages {
  pixels: PixelBatch;
}

export interface GroundOptions {
  maxNewTokens?: number;
  greedy?: boolean;
  temperature?: number;
  seed?: number;
  signal?: AbortSignal;
  /** The grounding text so far, each time it grows. */
  onText?: (textSoFar: string) => void;
}

export interface Grounding {
  text: string;
  tokenIds: number[];
  /** The prompt row the model was given (photo positions hold the image placeholder id). */
  promptIds: number[];
  ms: number;
}

/** A subject photo as received (bytes) with a name for error messages. */
export interface PhotoFile {
  bytes: Uint8Array;
  name?: string;
}

export interface GenerateRequest extends GenerateOptionsInput, ProgressHooks {
  subject?: SubjectImages | null;
  subjectContext?: SubjectContext;
  /** Stage-1 output; empty for plain text-to-image. */
  grounding?: string;
  format?: OutputFormat;
  /** A group of candidates (1-8) drawn in one batch instead of `count` images; seeds as for count. */
  candidates?: number;
}

/** A generate request whose prepared subject is of an engine's own kind (pixels here, a handle in a worker). */
export type EngineGenerateRequest<S> = Omit<GenerateRequest, 'subject'> & { subject?: S | null };

export interface GeneratedImage {
  data: Buffer;
  format: OutputFormat;
  /** Set where the image was encoded again as WebP to fit an upload limit: the quality used. */
  quality?: number;
  width: number;
  height: number;
  imageTokens: number[];
  seed: number;
}

export interface Generation {
  images: GeneratedImage[];
  promptTokens: number;
  /**
   * The prompt rows the model was given: the conditional one and, with guidance, the unconditional
   * one (set by generate(); results passed between processes leave it out).
   */
  promptIds?: { cond: number[]; uncond?: number[] };
  timings: { tokensMs: number; decodeMs: number; imageTokensPerSec: number };
}

/**
 * MM-R1's X-CoT on a Janus-compatible bundle: ground() writes what defines the subject,
 * generate() draws it doing what the prompt says. No Discord in here; the CLI, the bot and the
 * tests all call this.
 */
export class Personalizer {
  private answers: YesNoTokens | undefined;

  private constructor(
    readonly bundle: Bundle,
    readonly model: JanusModel,
    readonly tokenizer: ChatTokenizer,
    private readonly preprocess: PreprocessMode,
    private readonly caches: PromptCaches,
    private readonly batcher: ImageBatcher,
  ) {}

  static async load(dir: string, options: PersonalizerOptions = {}): Promise<Personalizer> {
    const bundle = loadBundle(dir, options);
    const tokenizer = new ChatTokenizer(bundle);
    tokenizer.requireTemplates([GROUNDING_TEMPLATE, GENERATION_TEMPLATE]);
    const model = await JanusModel.load(bundle, options);
    const caches = new PromptCaches(options);
    const batcher = new ImageBatcher(model, caches, { maxRows: options.maxBatchRows });
    return new Personalizer(bundle, model, tokenizer, options.preprocess ?? 'janus', caches, batcher);
  }

  get device(): Device {
    return this.model.device;
  }

  /** Checks and preprocesses subject photos (bytes as received). Throws ImageInputError. */
  async prepareImages(inputs: PhotoFile[], limits: Partial<ImageLimits> = {}): Promise<SubjectImages> {
    if (inputs.length === 0) throw new InputError('no_images', 'No subject photos were given.');
    const images = await loadImages(inputs, limits);
    const cfg = parsePreprocessorConfig(this.bundle.preprocessor);
    const pixels = await Promise.all(images.map((img) => toPixelValues(img, cfg, this.preprocess)));
    return { pixels: { data: stackPixelValues(pixels), count: pixels.length } };
  }

  /**
   * Stage 1: the grounding text for the subject. Greedy by default; on a random-weight test bundle
   * sampled by default (greedy decoding of random weights settles on tokens that decode to nothing,
   * and a newcomer should see what a reasoning trace looks like, even if it is random text).
   */
  async ground(subject: SubjectImages, context: SubjectContext = {}, options: GroundOptions = {}): Promise<Grounding> {
    const started = performance.now();
    const ctx = this.checkUserText(parseOrThrow(SubjectContextSchema, context));
    const messages = groundingMessages(xcotPrompts(this.bundle), this.bundle.processor.image_tag, subject.pixels.count, ctx);
    const prompt = this.tokenizer.prompt(GROUNDING_TEMPLATE, messages, subject.pixels.count);
    const ids: number[] = [];
    await generateText(this.model, this.caches, prompt, subject.pixels, {
      storePrefix: this.sharesGenerationPrefix(prompt.ids, subject.pixels.count, ctx),
      greedy: options.greedy ?? !this.bundle.randomWeights,
      temperature: options.temperature ?? 1,
      maxNewTokens: options.maxNewTokens ?? 96,
      eos: this.tokenizer.eos,
      seed: options.seed ?? 0,
      signal: options.signal,
      onToken: (id) => {
        ids.push(id);
        options.onText?.(this.tokenizer.decode(ids));
      },
    });
    return { text: this.tokenizer.decode(ids).trim(), tokenIds: ids, promptIds: prompt.ids, ms: performance.now() - started };
  }

  /** Stage 2 (or plain text-to-image with no subject): images, their tokens and seeds. */
  async generate(request: GenerateRequest): Promise<Generation> {
    const o = parseOrThrow(GenerateOptionsSchema, request);
    if (o.cfgWeight !== 1 && o.uncond === 'transformers-js' && !this.model.allowsUnattendedRows) {
      throw new InputError(
        'uncond_unsupported',
        "This model's GroupQueryAttention cannot run transformers.js' unconditional row (attention 0 everywhere); use the janus uncond (the official recipe) or guidance 1.",
      );
    }
    this.checkUserText({ prompt: o.prompt });
    const ctx = this.checkUserText(parseOrThrow(SubjectContextSchema, request.subjectContext ?? {}));
    const subject = request.subject ?? null;
    const imageCount = subject?.pixels.count ?? 0;
    const messages = generationMessages(xcotPrompts(this.bundle), this.bundle.processor.image_tag, imageCount, ctx, request.grounding ?? '', o.prompt);
    const prompt = this.tokenizer.prompt(GENERATION_TEMPLATE, messages, imageCount);
    const limit = this.bundle.config.language_config?.max_position_embeddings;
    if (limit && prompt.ids.length + this.model.shape.imageTokens > limit) {
      throw new InputError('prompt_too_long', 'The prompt and photos are too long for this model; use fewer photos or a shorter prompt.');
    }
    const count = request.candidates === undefined ? o.count : parseOrThrow(CandidatesSchema, request.candidates);
    const seed = o.seed ?? randomInt(0, 2 ** 31);
    const seeds = Array.from({ length: count }, (_, i) => (seed + i) % 2 ** 32);

    const t0 = performance.now();
    // Concurrent calls share decoder steps: this job joins whatever the batcher is drawing.
    const rows = imagePromptRows(prompt, o.cfgWeight !== 1, o.uncond, this.tokenizer.pad);
    const tokens = await this.batcher.run({
      rows,
      images: subject?.pixels ?? null,
      count,
      cfgWeight: o.cfgWeight,
      seeds,
      greedy: o.greedy,
      temperature: o.temperature,
      topK: o.topK,
      signal: request.signal,
      onStep: request.onStep,
    });
    const t1 = performance.now();
    const decoded = await this.model.decodeImages(tokens, count);
    const size = this.model.shape.imageSize;
    const format = request.format ?? 'png';
    const perImage = this.model.shape.imageTokens;
    const images = await Promise.all(
      seeds.map(async (s, i) => ({
        data: await encodeImage(decodedToImage(decoded, i, size), size, size, { format }),
        format,
        width: size,
        height: size,
        imageTokens: Array.from(tokens.subarray(i * perImage, (i + 1) * perImage), Number),
        seed: s,
      })),
    );
    const t2 = performance.now();
    return {
      images,
      promptTokens: prompt.ids.length,
      promptIds: { cond: rows[0].ids, ...(rows[1] ? { uncond: rows[1].ids } : {}) },
      timings: { tokensMs: t1 - t0, decodeMs: t2 - t1, imageTokensPerSec: (count * perImage) / ((t1 - t0) / 1000) },
    };
  }

  /**
   * The self-judge: this bundle's understanding path asked yes/no questions about each candidate
   * (encoded images, e.g. generate()'s output), see self-judge.ts. A known subject's photo prefix
   * comes from the caches that ground() and generate() filled.
   */
  async judge(subject: SubjectImages, candidates: Uint8Array[], prompt: string, options: { signal?: AbortSignal } = {}): Promise<SelfJudgement> {
    this.checkUserText({ prompt });
    this.answers ??= yesNoTokens(this.tokenizer);
    const images = await this.prepareImages(candidates.map((bytes, i) => ({ bytes, name: `candidate ${i + 1}` })));
    const ctx = { model: this.model, caches: this.caches, tokenizer: this.tokenizer, imageTag: this.bundle.processor.image_tag, answers: this.answers, signal: options.signal };
    return selfJudge(ctx, subject.pixels, images.pixels, prompt);
  }

  /** What the subject caches hold and how often they were used. */
  cacheStats(): PromptCacheStats {
    return this.caches.stats();
  }

  /** How much concurrent generate() calls shared decoder steps. */
  batchStats(): ImageBatcher['stats'] {
    return this.batcher.stats;
  }

  /** Empties the subject caches (vision features, prompt prefixes). */
  clearCaches(): void {
    this.caches.clear();
  }

  /**
   * Whether a grounding prompt starts (up to its last photo) like the generation prompt for the
   * same photos: then the prefix it computes is kept for the generation that follows.
   */
  private sharesGenerationPrefix(groundingIds: number[], imageCount: number, ctx: SubjectContext): boolean {
    const messages = generationMessages(xcotPrompts(this.bundle), this.bundle.processor.image_tag, imageCount, ctx, '', '');
    const gen = this.tokenizer.prompt(GENERATION_TEMPLATE, messages, imageCount);
    const split = prefixLength([{ ids: gen.ids, imageMask: gen.imageMask, attended: true }]);
    return split > 0 && split <= groundingIds.length && gen.ids.slice(0, split).every((id, i) => id === groundingIds[i]);
  }

  /** The bot's text rules: given text has a visible character and no control token (image tags, role markers). */
  private checkUserText<T extends Record<string, string | undefined>>(fields: T): T {
    assertUserText(fields, this.tokenizer.reservedTokens);
    return fields;
  }

  async close(): Promise<void> {
    await this.model.release();
  }
}
