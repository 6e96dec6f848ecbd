import { MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotCommand } from '../src/bot/command.ts';
import type { BotDeps } from '../src/bot/bot-deps.ts';

const data = new SlashCommandBuilder().setName('queue').setDescription("What's being drawn, what's waiting, and where your images are");

async function execute(interaction: ChatInputCommandInteraction, deps: BotDeps): Promise<void> {
  const { queue, generation } = deps;
  const snap = queue.snapshot();
  const me = interaction.user.id;
  const average = generation.averageJobMs();
  const lines = [
    `Drawing now: ${snap.running.length} of ${snap.concurrency} at once · waiting: ${snap.waiting.length}${snap.accepting ? '' : ' · not taking new jobs (restarting)'}`,
  ];
  const mine = [
    ...snap.running.filter((r) => r.userId === me).map((r) => `• \`${r.id}\` is being drawn${r.cancelling ? ' (cancelling)' : ''}`),
    ...snap.waiting
      .filter((w) => w.userId === me)
      .map((w) => {
        const eta = queue.eta(w.id, average);
        const when = eta ? ` · ready about <t:${Math.round((Date.now() + eta.finishesInMs) / 1000)}:R>` : '';
        return `• \`${w.id}\` is number ${w.position} in line${when}`;
      }),
  ];
  // With model workers (JOB_QUEUE=redis) the capacity is theirs: none up means nothing is drawn yet.
  if (snap.concurrency === 0) lines.push('No model worker is running right now; images wait until one starts.');
  lines.push(mine.length ? `Your images:\n${mine.join('\n')}` : 'You have nothing in the queue.');
  await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral });
}

export const queue: BotCommand = { data, execute };
