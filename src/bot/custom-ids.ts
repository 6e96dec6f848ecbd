import { isValidId } from '../store/ids.ts';

/**
 * Button and modal ids carry the action and the job id, so a click can be served by any process,
 * after a restart too: all other state is in the store. Format "xcot:<action>:<jobId>" (< 100 chars);
 * Upscale adds which image of the message: "xcot:upscale:<jobId>:<index>".
 * Each action's handler is registered in components/registry.ts.
 */
export const ACTIONS = ['regen', 'vary', 'why', 'save', 'cancel', 'refine', 'save-modal', 'refine-modal', 'delete', 'repost', 'pick', 'keep', 'upscale'] as const;
export type Action = (typeof ACTIONS)[number];

const PREFIX = 'xcot';
/** Discord's limit on a component's custom_id. */
const CUSTOM_ID_MAX_CHARS = 100;

export function customId(action: Action, jobId: string): string {
  return `${PREFIX}:${action}:${jobId}`;
}

/** The Upscale button of image `index` (0-based) of a result message. */
export function upscaleId(jobId: string, index: number): string {
  return `${PREFIX}:upscale:${jobId}:${index}`;
}

/** The action and job of one of our ids (and the image, for Upscale); null for anything else (another kind, malformed, over-long). */
export function parseCustomId(id: string): { action: Action; jobId: string; index?: number } | null {
  if (id.length > CUSTOM_ID_MAX_CHARS) return null;
  const [prefix, action, jobId, ...rest] = id.split(':');
  if (prefix !== PREFIX || !isValidId(jobId) || !(ACTIONS as readonly string[]).includes(action)) return null;
  if (action === 'upscale') {
    if (rest.length !== 1 || !/^[0-7]$/.test(rest[0])) return null;
    return { action, jobId, index: Number(rest[0]) };
  }
  if (rest.length) return null;
  return { action: action as Action, jobId };
}
