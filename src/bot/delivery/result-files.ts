import { AttachmentBuilder } from 'discord.js';
import { fitToUploadLimit } from '../../images/upload-fit.ts';
import type { GeneratedImage } from '../../pipeline/personalizer.ts';
import type { JobOutcome } from '../../jobs/job-outcome.ts';

/** A result's images as attachments, and the images as they are sent. */
export interface ResultFiles {
  files: AttachmentBuilder[];
  images: GeneratedImage[];
}

/**
 * The images of a result as attachments. They were fitted to the job's upload limit where they were
 * made (runStoredJob); one still over this channel's limit (`sizeLimit` each, 25 MiB in all) is sent
 * smaller, never dropped, and one within it is sent as it is. File names carry the job id (a later
 * attempt finds a post by them: find-post.ts).
 */
export async function resultFiles(outcome: JobOutcome, sizeLimit: number): Promise<ResultFiles> {
  const { job } = outcome;
  const images = await fitToUploadLimit(outcome.generation.images, sizeLimit);
  const files = images.map((img) => new AttachmentBuilder(img.data, { name: `${resultFilePrefix(job.id)}${img.seed}${job.upscale ? '-upscaled' : ''}.${img.format}` }));
  return { files, images };
}

/** How the name of every file of a job's result begins. */
export function resultFilePrefix(jobId: string): string {
  return `xcot-${jobId}-`;
}
