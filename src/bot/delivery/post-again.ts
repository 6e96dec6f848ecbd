import { MessageFlags, type ButtonInteraction } from 'discord.js';
import type { JobRecord } from '../../store/job-record.ts';
import type { DeliveryDeps } from './delivery-deps.ts';
import { redeliver } from './redelivery.ts';

/** The Post again button: one more try now, answered to the clicker alone; the bot's timer goes on as before. */
export async function postAgain(interaction: ButtonInteraction, deps: DeliveryDeps, job: JobRecord): Promise<void> {
  await interaction.deferReply({ flags: MessageFlags.Ephemeral });
  if (!(await deps.stores.jobs.keptResult(job.id))) {
    await interaction.editReply({ content: 'That image has been posted already.' });
    return;
  }
  // An attempt past the timer's: a failure neither tells the status again nor starts another timer.
  await redeliver(deps, interaction.client, job.id, Number.POSITIVE_INFINITY);
  const still = await deps.stores.jobs.keptResult(job.id);
  await interaction.editReply({ content: still ? 'Discord still refuses it. It stays kept, and the bot tries again by itself.' : 'Posted.' });
}
