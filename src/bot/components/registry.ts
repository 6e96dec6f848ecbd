import type { Action } from '../custom-ids.ts';
import { cancelAction } from './cancel.ts';
import type { ComponentAction } from './component-action.ts';
import { deleteResultAction } from './delete-result.ts';
import { keepCandidateAction, pickCandidateAction } from './pick-candidate.ts';
import { postAgainAction } from './post-again.ts';
import { refineAction, refineModalAction } from './refine.ts';
import { regenerateAction } from './regenerate.ts';
import { saveSubjectAction, saveSubjectModal } from './save-subject.ts';
import { showReasoningAction } from './show-reasoning.ts';
import { upscaleAction } from './upscale.ts';
import { variationsAction } from './variations.ts';

/**
 * Every button, menu and modal on a job's messages, by the action word of its custom id. A new one is
 * its word in ACTIONS (../custom-ids.ts), its module here, and its line below.
 */
export const COMPONENT_ACTIONS: Record<Action, ComponentAction> = {
  regen: regenerateAction,
  vary: variationsAction,
  why: showReasoningAction,
  save: saveSubjectAction,
  'save-modal': saveSubjectModal,
  refine: refineAction,
  'refine-modal': refineModalAction,
  cancel: cancelAction,
  delete: deleteResultAction,
  repost: postAgainAction,
  pick: pickCandidateAction,
  keep: keepCandidateAction,
  upscale: upscaleAction,
};
