import { cpus, totalmem } from 'node:os';
import { rankCandidates } from '../src/pipeline/candidate-group.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { selfJudgeScorer } from '../src/pipeline/self-judge-ranking.ts';
import { embeddingGroupScorer } from '../src/scoring/group-scorer.ts';
import { loadScorers } from '../src/scoring/load-scorers.ts';
import { parityPhotos } from '../test/helpers/transformers-reference.ts';

const PROMPT = 'a dog wearing a space suit on the moon';
const GROUNDING = 'a small brown dog with floppy ears, a red collar and white paws';
const GROUP = 4;

/**
 * The cost of ranking a group against the cost of drawing it: 4 candidates of one X-CoT request
 * (2 subject photos, guidance 5, a fixed grounding so grounding time is not in it) drawn in one
 * batch, then scored by DINO + CLIP-T and CLIP-I + CLIP-T (first group: the photos are embedded too;
 * next group: they are known), and by the self-judge (2 questions per candidate, 1 per photo).
 */
export async function benchCandidates(bundle: string, scorerDir: string | undefined) {
  const p = await Personalizer.load(bundle);
  try {
    const photos = await parityPhotos();
    const subject = await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` })));
    const ms = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
      const t = performance.now();
      const v = await f();
      return [v, Math.round(performance.now() - t)];
    };
    const request = { prompt: PROMPT, subject, grounding: GROUNDING, candidates: GROUP, seed: 1 };
    const [group, drawMs] = await ms(() => p.generate(request));
    const [second, secondDrawMs] = await ms(() => p.generate({ ...request, seed: 100 }));
    const embedding: Record<string, number> = {};
    if (scorerDir) {
      for (const kind of ['dino', 'clip'] as const) {
        // Fresh scorers per kind: their embedding caches must not carry over from the other kind.
        const scorers = await loadScorers(scorerDir);
        try {
          const scorer = embeddingGroupScorer(scorers, kind, scorerDir);
          const [, first] = await ms(() => rankCandidates(group.images, { scorer, subjectPhotos: photos, prompt: PROMPT }));
          const [, next] = await ms(() => rankCandidates(second.images, { scorer, subjectPhotos: photos, prompt: PROMPT }));
          embedding[`${kind}FirstGroupMs`] = first;
          embedding[`${kind}NextGroupMs`] = next;
        } finally {
          await Promise.all([scorers.dino?.release(), scorers.clip?.release()]);
        }
      }
    }
    const self = selfJudgeScorer((c, prompt) => p.judge(subject, c, prompt));
    const prefixHits = p.cacheStats().prefixHits;
    const [, judgeMs] = await ms(() => rankCandidates(second.images, { scorer: self, subjectPhotos: photos, prompt: PROMPT }));
    const questions = 2 * GROUP + photos.length;
    return {
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      bundle,
      scorers: scorerDir ?? null,
      drawGroupOf4Ms: [drawMs, secondDrawMs],
      ...embedding,
      scoreShareOfDraw: scorerDir ? Math.round((1000 * Math.max(embedding.dinoNextGroupMs, embedding.clipNextGroupMs)) / secondDrawMs) / 1000 : null,
      selfJudgeGroupMs: judgeMs,
      selfJudgeQuestions: questions,
      selfJudgePerCandidateMs: Math.round(judgeMs / GROUP),
      selfJudgePerQuestionMs: Math.round(judgeMs / questions),
      selfJudgeSubjectPrefixHits: p.cacheStats().prefixHits - prefixHits,
    };
  } finally {
    await p.close();
  }
}
