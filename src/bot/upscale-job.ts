import { InputError } from '../errors.ts';
import { admitJob, type AdmittedJob } from '../jobs/admission/admit.ts';
import { newId, type JobRecord } from '../store/index.ts';
import type { AttachmentRef } from './attachment-downloader.ts';
import { storeJobPhotos } from './photo-intake.ts';
import { upscaleFactor } from './delivery/upscale-factor.ts';
import type { BotDeps } from './bot-deps.ts';

/**
 * A new job that upscales image `index` of `parent`'s result, as posted (`image`: the attachment of the
 * message the button is on, downloaded from Discord's CDN and stored as the job's one photo). Queued and
 * counted like any job: one image against the quotas, a place in the fair queue (the ticket).
 */
export async function upscaleJob(deps: BotDeps, parent: JobRecord, image: AttachmentRef | undefined, index: number): Promise<AdmittedJob> {
  if (parent.deletedAt !== undefined) throw new InputError('job_deleted', 'That image was deleted; it cannot be upscaled.');
  if (parent.upscale) throw new InputError('invalid_option', 'That image is already upscaled.');
  const factor = await upscaleFactor(deps, parent.guildId);
  if (!deps.upscale || factor === undefined) throw new InputError('upscale_off', deps.upscale ? 'This server turned upscaling off.' : 'Upscaling is not available on this bot.');
  if (!image) throw new InputError('photo_gone', 'That image is no longer in this message; it cannot be upscaled.');
  const id = newId();
  return admitJob(deps, id, { userId: parent.ownerId, guildId: parent.guildId, images: 1 }, async () => {
    const hashes = await storeJobPhotos(deps, id, [image]);
    try {
      return await deps.stores.jobs.create({
        id,
        ownerId: parent.ownerId,
        guildId: parent.guildId,
        channelId: parent.threadId ?? parent.channelId,
        threadId: parent.threadId,
        prompt: parent.prompt,
        seed: parent.seed,
        options: { ...parent.options, count: 1 },
        photoHashes: hashes,
        name: parent.name,
        parentId: parent.id,
        uploadLimit: parent.uploadLimit,
        upscale: { index, scale: deps.upscale!.scale, ...(factor < deps.upscale!.scale ? { maxScale: factor } : {}) },
      });
    } catch (err) {
      await deps.stores.photos.release(hashes, `job:${id}`).catch(() => {});
      throw err;
    }
  });
}
