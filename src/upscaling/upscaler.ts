import ort from 'onnxruntime-node';
import { BundleError, InputError, UserFacingError } from '../errors.ts';
import type { RgbImage } from '../images/load.ts';
import { toPixelValues, toRgb, type PixelPlanes } from './swin2sr-processor.ts';
import { blendWeight, tileForBudget, tileSpans, type TileSpan } from './tiles.ts';
import { readUpscalerFolder, type UpscalerSpec } from './upscaler-folder.ts';
import type { Device } from '../model-kinds.ts';
import { firstLine } from '../util/first-line.ts';

export interface UpscalerOptions {
  /** ONNX Runtime intra-op threads (0: its default). */
  threads?: number;
  device?: Device;
  /** What one model run may take; larger images are tiled (default 2048 MiB). */
  memoryBudgetMb?: number;
  /** Input pixels two neighbouring tiles share (default 32, rounded up to the window grid). */
  overlap?: number;
}

export interface UpscaleProgress {
  tile: number;
  tiles: number;
}

export interface UpscaleRun {
  image: RgbImage;
  tiles: number;
  /** Input side of each tile (the padded image's when not tiled). */
  tileSize: number;
  ms: number;
}

/** An OOM from ONNX Runtime's allocator, as its message says it (CPU arena, CUDA, std::bad_alloc). */
const OUT_OF_MEMORY = /bad_alloc|failed to allocate|out of memory|cannot allocate/i;

/**
 * A Swin2SR super-resolution model loaded from a folder in the Xenova layout (see
 * readUpscalerFolder). upscale() preprocesses and postprocesses as transformers.js' image-to-image
 * pipeline, crops the padding's share away, and tiles (tiles.ts) when the padded image would need
 * more than the memory budget in one run. Each tile is one session.run, so a request that shares the
 * thread's event loop runs between tiles.
 */
export class Upscaler {
  private constructor(
    readonly spec: UpscalerSpec,
    private readonly session: ort.InferenceSession,
    private readonly budgetBytes: number,
    private readonly overlap: number,
  ) {}

  static async load(dir: string, o: UpscalerOptions = {}): Promise<Upscaler> {
    const spec = readUpscalerFolder(dir);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(spec.modelPath, {
        executionProviders: o.device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
        graphOptimizationLevel: 'all',
        ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
      });
    } catch (err) {
      throw new BundleError('upscaler_invalid', `upscaler ${dir}: onnx/model.onnx does not load (${firstLine(err)})`);
    }
    if (!session.inputNames.includes('pixel_values') || !session.outputNames.includes('reconstruction')) {
      const has = `inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')}`;
      await session.release();
      throw new BundleError('upscaler_invalid', `upscaler ${dir}: onnx/model.onnx is not an image-to-image graph (needs pixel_values -> reconstruction; has ${has})`);
    }
    const align = Math.max(spec.windowSize, spec.processor.padSize);
    const overlap = Math.ceil((o.overlap ?? 32) / align) * align;
    return new Upscaler(spec, session, (o.memoryBudgetMb ?? 3072) * 2 ** 20, overlap);
  }

  get scale(): number {
    return this.spec.scale;
  }

  /**
   * What one run needs per input pixel, estimated from the sizes in config.json: the Swin blocks'
   * activations (embed_dim wide, the MLP mlp_ratio times that), a window's attention scores and their
   * softmax, and the upsampler's 64 features at the output resolution (two live at once). Measured on
   * the real x4 sizes: about 11 KB per pixel; this says 17 KB.
   */
  get bytesPerPixel(): number {
    const s = this.spec;
    const heads = Math.max(...s.numHeads, 1);
    const blocks = s.embedDim * (4 + 2 * s.mlpRatio);
    const attention = 2 * heads * s.windowSize ** 2;
    const upsampler = s.upsampler === 'pixelshuffledirect' ? 6 * s.scale ** 2 : 64 * 2 * s.scale ** 2;
    return 4 * (blocks + attention + upsampler);
  }

  /** The tile side this budget allows for an image of `width` x `height`, or null when one run fits. */
  tilePlan(width: number, height: number): { tile: number; ys: TileSpan[]; xs: TileSpan[] } | null {
    const { padSize, doPad } = this.spec.processor;
    const pw = doPad ? width + ((padSize - (width % padSize)) % padSize) : width;
    const ph = doPad ? height + ((padSize - (height % padSize)) % padSize) : height;
    if (pw * ph * this.bytesPerPixel <= this.budgetBytes) return null;
    const align = Math.max(this.spec.windowSize, padSize);
    const tile = tileForBudget(this.budgetBytes, this.bytesPerPixel, align, this.overlap + 2 * align);
    return { tile, ys: tileSpans(ph, tile, this.overlap), xs: tileSpans(pw, tile, this.overlap) };
  }

  async upscale(image: RgbImage, o: { signal?: AbortSignal; onTile?: (p: UpscaleProgress) => void; tile?: number } = {}): Promise<UpscaleRun> {
    const t0 = performance.now();
    if (image.width < 2 || image.height < 2) throw new InputError('image_too_small', `An image of ${image.width} x ${image.height} is too small to upscale.`);
    const input = toPixelValues(image, this.spec);
    const s = this.spec.scale;
    const plan = o.tile !== undefined
      ? { tile: o.tile, ys: tileSpans(input.height, o.tile, this.overlap), xs: tileSpans(input.width, o.tile, this.overlap) }
      : this.tilePlan(image.width, image.height);
    let output: PixelPlanes;
    let tiles = 1;
    if (!plan || (plan.ys.length === 1 && plan.xs.length === 1)) {
      o.signal?.throwIfAborted();
      output = await this.run(input);
      o.onTile?.({ tile: 1, tiles: 1 });
    } else {
      tiles = plan.ys.length * plan.xs.length;
      output = await this.runTiled(input, plan.ys, plan.xs, o);
    }
    return { image: toRgb(output, image.width * s, image.height * s), tiles, tileSize: plan?.tile ?? Math.max(input.width, input.height), ms: performance.now() - t0 };
  }

  private async run(input: PixelPlanes): Promise<PixelPlanes> {
    const s = this.spec.scale;
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({ pixel_values: new ort.Tensor('float32', input.data, [1, 3, input.height, input.width]) });
    } catch (err) {
      const message = String((err as Error).message);
      if (OUT_OF_MEMORY.test(message)) {
        throw new UserFacingError('out_of_memory', `The upscale ran out of memory on a ${input.width} x ${input.height} tile; try again later, or ask the operator for a smaller UPSCALE_MEMORY_MB.`);
      }
      throw err;
    }
    const out = result.reconstruction;
    const [, c, h, w] = out.dims.map(Number);
    if (c !== 3 || h !== input.height * s || w !== input.width * s) {
      throw new BundleError('upscaler_invalid', `upscaler ${this.spec.dir}: reconstruction is ${out.dims.join('x')} for a ${input.width} x ${input.height} input (config.json upscale ${s})`);
    }
    return { data: out.data as Float32Array, width: w, height: h };
  }

  private async runTiled(input: PixelPlanes, ys: TileSpan[], xs: TileSpan[], o: { signal?: AbortSignal; onTile?: (p: UpscaleProgress) => void }): Promise<PixelPlanes> {
    const s = this.spec.scale;
    const W = input.width * s;
    const H = input.height * s;
    const acc = new Float32Array(3 * W * H);
    const weights = new Float32Array(W * H);
    const ramp = this.overlap * s;
    const tiles = ys.length * xs.length;
    let done = 0;
    for (const [yi, ty] of ys.entries()) {
      for (const [xi, tx] of xs.entries()) {
        o.signal?.throwIfAborted();
        const out = await this.run(crop(input, tx, ty));
        const wy = Float32Array.from({ length: ty.size * s }, (_, k) => blendWeight(k, ty.size * s, ramp, yi === 0, yi === ys.length - 1));
        const wx = Float32Array.from({ length: tx.size * s }, (_, k) => blendWeight(k, tx.size * s, ramp, xi === 0, xi === xs.length - 1));
        const tilePlane = out.width * out.height;
        for (let y = 0; y < out.height; y++) {
          if (wy[y] === 0) continue;
          const row = (ty.start * s + y) * W + tx.start * s;
          for (let x = 0; x < out.width; x++) {
            const w = wy[y] * wx[x];
            if (w === 0) continue;
            const at = row + x;
            weights[at] += w;
            for (let c = 0; c < 3; c++) acc[c * W * H + at] += w * out.data[c * tilePlane + y * out.width + x];
          }
        }
        o.onTile?.({ tile: ++done, tiles });
      }
    }
    for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) acc[c * W * H + i] /= weights[i];
    return { data: acc, width: W, height: H };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function crop(input: PixelPlanes, x: TileSpan, y: TileSpan): PixelPlanes {
  const data = new Float32Array(3 * x.size * y.size);
  const plane = input.width * input.height;
  for (let c = 0; c < 3; c++) {
    for (let row = 0; row < y.size; row++) {
      const from = c * plane + (y.start + row) * input.width + x.start;
      data.set(input.data.subarray(from, from + x.size), c * x.size * y.size + row * x.size);
    }
  }
  return { data, width: x.size, height: y.size };
}
