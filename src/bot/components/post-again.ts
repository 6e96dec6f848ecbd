import { postAgain } from '../delivery/post-again.ts';
import type { ButtonAction } from './component-action.ts';
import { notDeleted } from './preconditions.ts';

/** Post again under a status that says the image is kept. */
export const postAgainAction: ButtonAction = {
  action: 'repost',
  kind: 'button',
  requires: [notDeleted],
  handle: postAgain,
};
