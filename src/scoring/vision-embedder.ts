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

/**
 * Runs an image tower on pixel_values and returns unit-length embeddings. Images whose pixel
 * tensors share a shape go through the graph together (batches of at most batchSize).
 */
export class VisionEmbedder {
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
