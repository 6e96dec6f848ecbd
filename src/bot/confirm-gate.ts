import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  ComponentType,
  MessageFlags,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Client,
  type Message,
} from 'discord.js';
import { newId } from '../store/ids.ts';

/** A yes/no question asked before a command goes on. */
export interface Question {
  content: string;
  confirmLabel: string;
  cancelLabel: string;
  /** What the message says after Cancel. */
  cancelled: string;
}

/** How long a question waits for its click (the command's token lasts 15 minutes). */
export const QUESTION_TIMEOUT_MS = 5 * 60_000;
const PREFIX = 'gate';
const NO_MENTIONS = { parse: [] as [] };
/** The questions each client (bot process) is waiting on: nonce -> the id of the member who was asked. */
const waiting = new WeakMap<Client, Map<string, string>>();
/** Said to a member who clicks a question put to someone else. */
export const NOT_YOUR_QUESTION = 'Only the person who asked can answer this.';

/**
 * Asks `questions` one after another in one ephemeral message (the command's reply: sent now, or the
 * edit of a deferred ephemeral reply) and waits for the user's clicks; the command stays in memory
 * meanwhile, so it goes on without being typed again. Resolves with the click that confirmed the last
 * question, not yet acknowledged (the caller answers it); null after Cancel or when no click came in
 * time, the message then saying so. Button ids ("gate:<nonce>:yes") are not the job buttons'
 * ("xcot:..."), so the component router leaves them to this wait. A restart forgets the wait: a
 * click then gets answerUntakenClick, as does a click by another member.
 */
export async function askToConfirm(
  interaction: ChatInputCommandInteraction,
  questions: Question[],
  timeoutMs = QUESTION_TIMEOUT_MS,
): Promise<ButtonInteraction | null> {
  const nonce = newId();
  let live = waiting.get(interaction.client);
  if (!live) waiting.set(interaction.client, (live = new Map()));
  live.set(nonce, interaction.user.id);
  try {
    return await ask(interaction, questions, timeoutMs, nonce);
  } finally {
    live.delete(nonce);
  }
}

/**
 * A click on a question that its wait does not take. Asked of another member: the clicker alone is
 * told that only the asker can answer, and the question stays. Asked before a restart (no wait of this
 * process holds it): the question goes and the user is told to run the command again. False when the
 * id is not a question's; true when the click is the wait's or has been answered here.
 */
export async function answerUntakenClick(interaction: ButtonInteraction): Promise<boolean> {
  const [prefix, nonce] = interaction.customId.split(':');
  if (prefix !== PREFIX || !nonce) return false;
  const asked = waiting.get(interaction.client)?.get(nonce);
  if (asked === interaction.user.id) return true;
  if (asked !== undefined) {
    await interaction.reply({ content: NOT_YOUR_QUESTION, flags: MessageFlags.Ephemeral, allowedMentions: NO_MENTIONS }).catch(() => {});
    return true;
  }
  await interaction
    .update({ content: 'This question is closed (already answered, or asked before the bot restarted). Run the command again if you need to.', components: [], allowedMentions: NO_MENTIONS })
    .catch(() => {});
  return true;
}

async function ask(interaction: ChatInputCommandInteraction, questions: Question[], timeoutMs: number, nonce: string): Promise<ButtonInteraction | null> {
  let message: Message | undefined;
  let click: ButtonInteraction | undefined;
  for (const q of questions) {
    const payload = { content: q.content, components: [row(nonce, q)], allowedMentions: NO_MENTIONS };
    if (click) {
      await click.update(payload);
    } else if (interaction.deferred || interaction.replied) {
      message = await interaction.editReply(payload);
    } else {
      message = (await interaction.reply({ ...payload, flags: MessageFlags.Ephemeral, withResponse: true })).resource?.message ?? (await interaction.fetchReply());
    }
    let next: ButtonInteraction;
    try {
      next = await message!.awaitMessageComponent({
        componentType: ComponentType.Button,
        time: timeoutMs,
        filter: (b) => b.user.id === interaction.user.id && b.customId.startsWith(`${PREFIX}:${nonce}:`),
      });
    } catch {
      await interaction.editReply({ content: 'No answer in time, so nothing was done. Run the command again when you are ready.', components: [] }).catch(() => {});
      return null;
    }
    if (next.customId.endsWith(':no')) {
      await next.update({ content: q.cancelled, components: [], allowedMentions: NO_MENTIONS }).catch(() => {});
      return null;
    }
    click = next;
  }
  return click ?? null;
}

function row(nonce: string, q: Question): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId(`${PREFIX}:${nonce}:yes`).setLabel(q.confirmLabel).setStyle(ButtonStyle.Success),
    new ButtonBuilder().setCustomId(`${PREFIX}:${nonce}:no`).setLabel(q.cancelLabel).setStyle(ButtonStyle.Secondary),
  );
}
