import { ActionRowBuilder, ButtonBuilder, ButtonStyle, StringSelectMenuBuilder, StringSelectMenuOptionBuilder } from 'discord.js';
import { customId } from '../custom-ids.ts';

/** What the result message shows of a group's candidates (a drawn group, or one kept in the store). */
export interface CandidateView {
  scorer: string | null;
  scoringMs: number;
  /** Best first when ranked. */
  candidates: readonly { drawn: number; seed: number; scores?: { fidelity: number; alignment: number } }[];
}

function scoreText(c: CandidateView['candidates'][number]): string {
  return c.scores ? `fidelity ${c.scores.fidelity.toFixed(2)} · alignment ${c.scores.alignment.toFixed(2)}` : 'unranked';
}

/** The line under the stats: which candidate is shown, its scores and the scorer ("unranked" without one). */
export function candidateLine(view: CandidateView, drawn: number): string {
  const at = Math.max(0, view.candidates.findIndex((c) => c.drawn === drawn));
  const c = view.candidates[at];
  const by = c.scores && view.scorer ? ` (${view.scorer})` : '';
  return `Candidate ${at + 1} of ${view.candidates.length} · ${scoreText(c)}${by}`;
}

/** The stats' note on ranking: how long scoring took, or that the group is unranked. */
export function scoringStat(view: CandidateView): string {
  return view.scorer ? `scored by ${view.scorer} in ${(view.scoringMs / 1000).toFixed(1)} s` : 'unranked';
}

/** A menu under the result that shows another candidate; the shown one is its default. */
export function candidateMenu(jobId: string, view: CandidateView, shown: number): ActionRowBuilder<StringSelectMenuBuilder> {
  const menu = new StringSelectMenuBuilder()
    .setCustomId(customId('pick', jobId))
    .setPlaceholder('Show another candidate')
    .setMinValues(1)
    .setMaxValues(1)
    .addOptions(
      view.candidates.map((c, i) =>
        new StringSelectMenuOptionBuilder()
          .setLabel(`Candidate ${i + 1} · ${scoreText(c)}`)
          .setDescription(`Seed ${c.seed}`)
          .setValue(String(c.drawn))
          .setDefault(c.drawn === shown),
      ),
    );
  return new ActionRowBuilder<StringSelectMenuBuilder>().addComponents(menu);
}

export function keepButton(jobId: string): ButtonBuilder {
  return new ButtonBuilder().setCustomId(customId('keep', jobId)).setLabel('Keep this one').setStyle(ButtonStyle.Success);
}
