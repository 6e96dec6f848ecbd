import type { ButtonAction } from './component-action.ts';
import { followUpReply } from './follow-up-reply.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/** Regenerate: the same request with a new seed. */
export const regenerateAction: ButtonAction = {
  action: 'regen',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  handle: (interaction, deps, job) => followUpReply(interaction, deps, job, { newSeed: true }),
};
