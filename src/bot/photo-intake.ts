import { InputError } from '../errors.ts';
import type { Stores } from '../store/index.ts';
import { downloadAttachment, type AttachmentRef } from './attachment-downloader.ts';
import type { BotDeps } from './bot-deps.ts';

/**
 * Downloads attachments at once (their links expire), checks and normalizes them, and stores them
 * under the job's id. All or nothing: if one photo is bad, the ones already stored are released.
 */
export async function storeJobPhotos(deps: BotDeps, jobId: string, attachments: AttachmentRef[]): Promise<string[]> {
  const { config, stores } = deps;
  if (attachments.length > config.maxSubjectPhotos) {
    throw new InputError('too_many', `At most ${config.maxSubjectPhotos} photos can be used at once.`);
  }
  const ref = `job:${jobId}` as const;
  const hashes: string[] = [];
  try {
    for (const att of attachments) {
      const bytes = await downloadAttachment(att, { allowedHosts: deps.attachmentHosts, maxBytes: config.maxPhotoBytes });
      hashes.push(await stores.photos.putPhoto(bytes, ref, { name: att.name, maxBytes: config.maxPhotoBytes }));
    }
  } catch (err) {
    await releaseAll(stores, hashes, ref);
    throw err;
  }
  return [...new Set(hashes)];
}

async function releaseAll(stores: Stores, hashes: string[], ref: `job:${string}`): Promise<void> {
  await stores.photos.release(hashes, ref).catch(() => {});
}
