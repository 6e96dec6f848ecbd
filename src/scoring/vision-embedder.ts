import { createHash } from 'node:crypto';
import ort from 'onnxruntime-node';
import { loadImage, type RgbImage } from '../images/load.ts';
import { dreamBenchPixels, processorPixels, type PixelProtocol } from './image-processor.ts';
import type { ScorerImage } from './types.ts';
import { normalize } from './vectors.ts';

export async function toRgb(image: ScorerImage): Promise<RgbImage> {
  return image instanceof Uint8Array ? loadImage(image) : image;
}

/** Picks each image's embedding from the graph output: a [B, D] tensor, or the CLS row of [B, T, D]. */
function embeddingRows(t: ort.Tensor, count: number): Float32Array[] {
  const data = t.data as Float32Array;
  const width = Number(t.dims[t.dims.length - 1]);
  const stride = t.dims.length === 3 ? Number(t.dims[1]) * width : width;
  return Array.from({ length: count }, (_, i) => data.subarray(i * stride, i * stride + width));
}

function contentKey(image: ScorerImage): string {
  const h = createHash('sha256');
  if (image instanceof Uint8Array) h.update('bytes').update(image);
  else h.update(`rgb ${image.width}x${image.height}`).update(image.data);
  return h.digest('hex');
}

/**
 * Runs an image tower on pixel_values and returns unit-length embeddings. Images whose pixel
 * tensors share a shape go through the graph together (batches of at most batchSize). The last
 * `cacheSize` embeddings are kept by content, so a group's subject photos are embedded once.
 */
export class VisionEmbedder {
  private readonly cache = new Map<string, Float64Array>();
  private readonly cacheSize = 64;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly output: string,
    private readonly protocol: PixelProtocol,
    private readonly batchSize = 8,
  ) {}

  async pixels(image: ScorerImage): Promise<{ pixels: Float32Array; width: number; height: number }> {
    const rgb = await toRgb(image);
    if (this.protocol.kind === 'dreambench') return { pixels: await dreamBenchPixels(rgb), width: 224, height: 224 };
    return processorPixels(rgb, this.protocol.config);
  }

  async embed(images: readonly ScorerImage[]): Promise<Float64Array[]> {
    const keys = images.map(contentKey);
    const found = new Map(keys.filter((k) => this.cache.has(k)).map((k) => [k, this.cache.get(k)!]));
    const todo = [...new Set(keys.filter((k) => !found.has(k)))].map((k) => keys.indexOf(k));
    const fresh = await this.embedUncached(todo.map((i) => images[i]));
    todo.forEach((i, k) => found.set(keys[i], fresh[k]));
    for (const [k, v] of found) this.remember(k, v);
    return keys.map((k) => found.get(k)!);
  }

  private remember(key: string, v: Float64Array): void {
    this.cache.delete(key);
    this.cache.set(key, v);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  private async embedUncached(images: readonly ScorerImage[]): Promise<Float64Array[]> {
    const prepared = await Promise.all(images.map((im) => this.pixels(im)));
    const out: Float64Array[] = new Array(images.length);
    const groups = new Map<string, number[]>();
    prepared.forEach((p, i) => {
      const key = `${p.width}x${p.height}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const members of groups.values()) {
      for (let s = 0; s < members.length; s += this.batchSize) {
        const batch = members.slice(s, s + this.batchSize);
        const { width, height } = prepared[batch[0]];
        const plane = 3 * width * height;
        const data = new Float32Array(plane * batch.length);
        batch.forEach((idx, k) => data.set(prepared[idx].pixels, k * plane));
        const result = await this.session.run({ pixel_values: new ort.Tensor('float32', data, [batch.length, 3, height, width]) });
        embeddingRows(result[this.output], batch.length).forEach((v, k) => (out[batch[k]] = normalize(v)));
      }
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
