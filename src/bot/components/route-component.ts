import { InputError } from '../../errors.ts';
import type { JobRecord } from '../../store/index.ts';
import type { BotDeps } from '../bot-deps.ts';
import { answerUntakenClick } from '../confirm-gate.ts';
import { customId, parseCustomId } from '../custom-ids.ts';
import { userMessage } from '../reply-errors.ts';
import type { ComponentAction, ComponentInteraction } from './component-action.ts';
import { componentIdsOn } from './component-ids-on.ts';
import { COMPONENT_ACTIONS } from './registry.ts';
import { refuse } from './refuse.ts';

const NOT_OURS = 'That button or menu is out of date or not one of this bot’s; start again with /personalize.';

/**
 * A click, menu choice or modal submission on a bot message. Everything needed is in the custom id and
 * the job store, so this works for messages sent before a restart. Every action is checked the same
 * way before its own preconditions: its id is one of ours, the job exists and belongs to this server,
 * and the message carries that job's component. Never throws; every refusal is answered privately.
 */
export async function routeComponent(interaction: ComponentInteraction, deps: BotDeps): Promise<void> {
  // A confirm question's click: its wait takes it, or it is answered there (another member's, a stale one).
  if (interaction.isButton() && (await answerUntakenClick(interaction))) return;
  try {
    const parsed = parseCustomId(interaction.customId);
    const action = parsed ? COMPONENT_ACTIONS[parsed.action] : undefined;
    if (!parsed || !action || action.kind !== kindOf(interaction)) throw new InputError('stale', NOT_OURS);
    const job = await deps.stores.jobs.get(parsed.jobId);
    if (!job) throw new InputError('job_gone', 'That image is too old or was deleted; start again with /personalize.');
    await assertBelongsHere(interaction, action, job);
    for (const precondition of action.requires) await precondition.check(interaction, deps, job);
    await handle(action, interaction, deps, job);
  } catch (err) {
    await refuse(interaction, userMessage(err, deps.logger, { customId: interaction.customId.slice(0, 100) }));
  }
}

function kindOf(interaction: ComponentInteraction): ComponentAction['kind'] | undefined {
  if (interaction.isButton()) return 'button';
  if (interaction.isStringSelectMenu()) return 'select';
  if (interaction.isModalSubmit()) return 'modal';
  return undefined;
}

/** The job is this server's (or this DM's), and the message the interaction comes from carries its component. */
async function assertBelongsHere(interaction: ComponentInteraction, action: ComponentAction, job: JobRecord): Promise<void> {
  if ((job.guildId ?? null) !== (interaction.guildId ?? null)) throw new InputError('wrong_server', NOT_OURS);
  const carried = action.kind === 'modal' ? customId(action.openedBy, job.id) : interaction.customId;
  const message = interaction.isModalSubmit() ? (interaction.isFromMessage() ? interaction.message : null) : interaction.message;
  if (!message || !componentIdsOn(message).includes(carried)) throw new InputError('not_on_message', NOT_OURS);
}

function handle(action: ComponentAction, interaction: ComponentInteraction, deps: BotDeps, job: JobRecord): Promise<void> {
  switch (action.kind) {
    case 'button':
      return action.handle(interaction as Parameters<typeof action.handle>[0], deps, job);
    case 'select':
      return action.handle(interaction as Parameters<typeof action.handle>[0], deps, job);
    case 'modal':
      return action.handle(interaction as Parameters<typeof action.handle>[0], deps, job);
  }
}
