import type { ButtonAction } from './component-action.ts';
import { followUpReply } from './follow-up-reply.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/** Variations: four new images of the same request. */
export const variationsAction: ButtonAction = {
  action: 'vary',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  handle: (interaction, deps, job) => followUpReply(interaction, deps, job, { newSeed: true, count: 4 }),
};
