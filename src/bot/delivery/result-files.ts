import { AttachmentBuilder } from 'discord.js';
import { reencodeToFit } from '../../images/encode.ts';
import { loadImage } from '../../images/load.ts';
import type { JobOutcome } from '../../jobs/job-outcome.ts';

/** A result's images as attachments, and what each re-encoded one was sent as ("WebP quality 80"). */
export interface ResultFiles {
  files: AttachmentBuilder[];
  reencoded: string[];
}

/**
 * The images of a result as attachments within the channel's upload limit (`sizeLimit` each, 25 MiB
 * in all): one over it is sent smaller, never dropped. File names carry the job id (a later attempt
 * finds a post by them: find-post.ts).
 */
export async function resultFiles(outcome: JobOutcome, sizeLimit: number): Promise<ResultFiles> {
  const { job, generation } = outcome;
  const files: AttachmentBuilder[] = [];
  const reencoded: string[] = [];
  let budget = Math.min(25 * 2 ** 20, sizeLimit * generation.images.length);
  for (const [i, img] of generation.images.entries()) {
    let data = img.data;
    let ext = img.format;
    if (data.byteLength > sizeLimit) {
      const rgb = await loadImage(data, { maxBytes: Number.MAX_SAFE_INTEGER, maxPixels: img.width * img.height });
      const fitted = await reencodeToFit(rgb.data, rgb.width, rgb.height, Math.min(sizeLimit, budget / (generation.images.length - i)));
      data = fitted.data;
      ext = fitted.format;
      if (fitted.format !== img.format) reencoded.push(`${fitted.format === 'webp' ? 'WebP' : fitted.format.toUpperCase()}${fitted.quality ? ` quality ${fitted.quality}` : ''}`);
    }
    budget -= data.byteLength;
    files.push(new AttachmentBuilder(data, { name: `${resultFilePrefix(job.id)}${img.seed}${job.upscale ? '-upscaled' : ''}.${ext}` }));
  }
  return { files, reencoded };
}

/** How the name of every file of a job's result begins. */
export function resultFilePrefix(jobId: string): string {
  return `xcot-${jobId}-`;
}
