import { MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotCommand } from '../src/bot/command.ts';
import type { BotDeps } from '../src/bot/bot-deps.ts';
import type { JobRecord } from '../src/store/index.ts';
import { plainText, safeText } from '../src/util/safe-text.ts';

/** How much of a prompt names a job in the list. */
const NAME_CHARS = 60;

const data = new SlashCommandBuilder().setName('queue').setDescription("What's being drawn, what's waiting, and where your images are");

async function execute(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<void> {
  const { queue, runner } = deps;
  const snap = queue.snapshot();
  const me = interaction.user.id;
  const average = runner.averageJobMs();
  const lines = [
    `Drawing now: ${snap.running.length} of ${snap.concurrency} at once · waiting: ${snap.waiting.length}${snap.accepting ? '' : ' · not taking new jobs (restarting)'}`,
  ];
  const running = snap.running.filter((r) => r.userId === me);
  const waiting = snap.waiting.filter((w) => w.userId === me);
  const records = new Map(
    await Promise.all([...running, ...waiting].map(async (j) => [j.id, await deps.stores.jobs.get(j.id).catch(() => undefined)] as const)),
  );
  const name = (id: string) => jobName(records.get(id), interaction.guildId);
  const mine = [
    ...running.map((r) => `• ${name(r.id)} is being drawn${r.cancelling ? ' (cancelling)' : ''}`),
    ...waiting.map((w) => {
      const eta = queue.eta(w.id, average);
      const when = eta ? ` · ready about <t:${Math.round((Date.now() + eta.finishesInMs) / 1000)}:R>` : '';
      return `• ${name(w.id)} is number ${w.position} in line${when}`;
    }),
  ];
  // With model workers (JOB_QUEUE=redis) the capacity is theirs: none up means nothing is drawn yet.
  if (snap.concurrency === 0) lines.push('No model worker is running right now; images wait until one starts.');
  lines.push(mine.length ? `Your images:\n${mine.join('\n')}` : 'You have nothing in the queue.');
  await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral });
}

/** A job as its owner knows it: the start of its prompt (shown as typed), linked to its status message when there is one. */
function jobName(job: JobRecord | undefined, guildId: string | null): string {
  if (!job) return 'An image';
  const words = `“${safeText(plainText(job.prompt, NAME_CHARS, 'your image'))}”`;
  const status = job.statusMessage;
  return status && guildId ? `${words} (status: https://discord.com/channels/${guildId}/${status.channelId}/${status.messageId})` : words;
}

export const queue: BotCommand = { data, execute };
