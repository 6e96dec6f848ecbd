import { basename, dirname } from 'node:path';
import sharp from 'sharp';
import { AutoProcessor, MultiModalityCausalLM, env } from '@huggingface/transformers';

/** transformers.js' processor and MultiModalityCausalLM for a bundle folder (the parity reference). */
export type Reference = { processor: any; model: any };

/** Loads the reference from local files only, on CPU with one thread. */
export async function loadReference(dir: string, dtype: 'fp32' | 'q4' = 'fp32'): Promise<Reference> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dirname(dir);
  const name = basename(dir);
  const processor = await AutoProcessor.from_pretrained(name, { local_files_only: true });
  const model = await MultiModalityCausalLM.from_pretrained(name, { local_files_only: true, dtype, device: 'cpu', session_options: { intraOpNumThreads: 1 } });
  return { processor, model };
}

/** Two subject photos with texture (a PNG and a JPEG, different aspect ratios), the same every run. */
export async function parityPhotos(): Promise<Buffer[]> {
  const pattern = (w: number, h: number, seed: number) => {
    let s = seed;
    const out = Buffer.alloc(w * h * 3);
    for (let i = 0; i < out.length; i++) out[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24) / 2 + (i % (w * 3)) / 12;
    return sharp(out, { raw: { width: w, height: h, channels: 3 } });
  };
  return [await pattern(200, 120, 1).png().toBuffer(), await pattern(90, 160, 2).jpeg({ quality: 90 }).toBuffer()];
}

/** Where two token lists first differ, for assertion messages. */
export function firstDifference(a: number[], b: number[]): string {
  const i = a.findIndex((x, k) => x !== b[k]);
  return i < 0 && a.length === b.length ? 'none' : `at ${i < 0 ? Math.min(a.length, b.length) : i} of ${a.length} vs ${b.length}`;
}
