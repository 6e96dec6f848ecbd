/**
 * Button and modal ids carry the action and the job id, so a click can be served by any process,
 * after a restart too: all other state is in the store. Format "xcot:<action>:<jobId>" (< 100 chars).
 */
export const ACTIONS = ['regen', 'vary', 'why', 'save', 'cancel', 'refine', 'save-modal', 'refine-modal', 'delete', 'repost', 'pick', 'keep'] as const;
export type Action = (typeof ACTIONS)[number];

const PREFIX = 'xcot';

export function customId(action: Action, jobId: string): string {
  return `${PREFIX}:${action}:${jobId}`;
}

export function parseCustomId(id: string): { action: Action; jobId: string } | null {
  const [prefix, action, jobId, ...rest] = id.split(':');
  if (prefix !== PREFIX || rest.length || !jobId || !(ACTIONS as readonly string[]).includes(action)) return null;
  return { action: action as Action, jobId };
}
