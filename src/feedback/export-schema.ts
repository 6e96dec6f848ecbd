import { z } from 'zod';

/** Bumped when a line's meaning or shape changes; readers check it. */
export const FEEDBACK_EXPORT_VERSION = 1;

const score = z.number().finite();

/** A user's signals on one candidate, summed over users. */
export const CandidateSignalsSchema = z
  .object({
    /** The image's owner chose this candidate (the menu or Keep this one; the last choice counts). */
    picked: z.boolean(),
    thumbsUp: z.number().int().min(0),
    thumbsDown: z.number().int().min(0),
    /** The owner regenerated / refined while this candidate was the one shown. */
    regenerated: z.boolean(),
    refined: z.boolean(),
  })
  .strict();

export const ExportedCandidateSchema = z
  .object({
    /** Its place in the drawing order: candidate i was sampled from sampling.seed + i. */
    drawn: z.number().int().min(0),
    /** 1 = best by the scorer; null when the group is unranked. */
    rank: z.number().int().min(1).nullable(),
    seed: z.number().int().min(0),
    imageTokenCount: z.number().int().min(1),
    /** The codebook ids the model wrote, in order (576 for Janus-Pro at 384 x 384). */
    imageTokens: z.array(z.number().int().min(0)),
    /** Cosines in [-1, 1] (dino, clip) or P(yes) in [0, 1] (self); null when unranked. */
    scores: z.object({ fidelity: score, alignment: score, passes: z.boolean() }).strict().nullable(),
    signals: CandidateSignalsSchema,
  })
  .strict()
  .refine((c) => c.imageTokens.length === c.imageTokenCount, { message: 'imageTokens must hold imageTokenCount ids' });

/** One line of `npm run export-feedback`: a group drawn for one prompt, with its scores and users' signals. */
export const FeedbackGroupSchema = z
  .object({
    schema: z.literal('xcot-feedback'),
    version: z.literal(FEEDBACK_EXPORT_VERSION),
    groupId: z.string().min(1),
    createdAt: z.iso.datetime(),
    modelId: z.string().min(1),
    prompt: z.string().min(1),
    /** The X-CoT stage-1 text the images were conditioned on ('' without subject photos). */
    grounding: z.string(),
    /** sha256 of each normalized subject photo (the photos themselves are not exported). */
    subjectPhotoHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
    sampling: z
      .object({
        seed: z.number().int().min(0),
        cfgWeight: z.number(),
        temperature: z.number(),
        topK: z.number().int().nullable(),
        greedy: z.boolean(),
        uncond: z.enum(['janus', 'transformers-js']),
      })
      .strict(),
    /** The scorer that ranked the group (dino, clip, self), or null: unranked. */
    scorer: z.string().nullable(),
    /** The subject photos' own alignment with the prompt (the copy guard's baseline), when ranked. */
    photoAlignment: z.number().nullable(),
    /** Best first when ranked, else in drawing order. */
    candidates: z.array(ExportedCandidateSchema).min(1),
  })
  .strict();

export type FeedbackGroup = z.output<typeof FeedbackGroupSchema>;
