import { MessageFlags } from 'discord.js';
import { JobLife } from '../../jobs/job-life.ts';
import type { ButtonAction } from './component-action.ts';
import { notDeleted, ownerOnly } from './preconditions.ts';

/** Cancel under a job's status: the owner stops a waiting or running job. */
export const cancelAction: ButtonAction = {
  action: 'cancel',
  kind: 'button',
  requires: [notDeleted, ownerOnly],
  async handle(interaction, deps, job) {
    let content: string;
    if (deps.queue.cancel(job.id, 'Cancelled by you.')) {
      content = 'Cancelled.';
    } else {
      // Not cancellable now. This process' own memory first: a job it cancelled a moment ago still has
      // status 'queued' or 'running' in the record (updated a little later), which is no sign of a restart.
      const state = deps.runner.stateOf(job.id);
      if (state === 'cancelled') content = 'Already cancelled.';
      else if (state) content = 'Already finished.';
      else {
        // Never queued by this process (left by one that crashed or restarted): the record is all that is left.
        if (await new JobLife(deps.stores).settled(job.id, 'cancelled', undefined, { waitForStore: false })) {
          content = 'That job was interrupted by a restart and is cancelled now; send it again if you still want it.';
        } else content = ((await deps.stores.jobs.get(job.id)) ?? job).status === 'cancelled' ? 'Already cancelled.' : 'Already finished.';
      }
    }
    await interaction.reply({ content, flags: MessageFlags.Ephemeral });
  },
};
