import type { ButtonInteraction, ModalSubmitInteraction, StringSelectMenuInteraction } from 'discord.js';
import type { JobRecord } from '../../store/index.ts';
import type { BotDeps } from '../bot-deps.ts';
import type { Action } from '../custom-ids.ts';

export type ComponentInteraction = ButtonInteraction | StringSelectMenuInteraction | ModalSubmitInteraction;

/**
 * A check an action declares, run before it is handled; it throws a UserFacingError (shown to the
 * clicker alone) to refuse.
 */
export interface Precondition {
  name: string;
  check(interaction: ComponentInteraction, deps: BotDeps, job: JobRecord): Promise<void> | void;
}

interface ActionBase<I extends ComponentInteraction> {
  /** The action word of its custom ids, "xcot:<action>:<jobId>". */
  action: Action;
  /**
   * Checked in order after the checks every action gets (the job exists, belongs to this server, and
   * the message carries this action's component of that job).
   */
  requires: Precondition[];
  handle(interaction: I, deps: BotDeps, job: JobRecord): Promise<void>;
}

export interface ButtonAction extends ActionBase<ButtonInteraction> {
  kind: 'button';
}

export interface SelectAction extends ActionBase<StringSelectMenuInteraction> {
  kind: 'select';
}

export interface ModalAction extends ActionBase<ModalSubmitInteraction> {
  kind: 'modal';
  /** The button that opens this modal: the message the modal was opened from must carry it. */
  openedBy: Action;
}

/** A button, menu or modal on a job's messages, registered in ./registry.ts. */
export type ComponentAction = ButtonAction | SelectAction | ModalAction;
