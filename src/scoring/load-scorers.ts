import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClipScorer } from './clip-scorer.ts';
import { DinoScorer, type DinoScorerOptions } from './dino-scorer.ts';

export interface LoadedScorers {
  dino?: DinoScorer;
  clip?: ClipScorer;
  /** Folders looked for and not found, for one log line. */
  missing: string[];
}

const DINO_NAMES = ['dino-vits16', 'Xenova/dino-vits16'];
const CLIP_NAMES = ['clip-vit-base-patch32', 'Xenova/clip-vit-base-patch32'];

/**
 * The scorers in SCORER_DIR (or --scorers DIR): the repositories as downloaded, each in a folder
 * named as on the hub, with or without the Xenova/ level (transformers.js' localModelPath layout).
 */
export async function loadScorers(dir: string, options: DinoScorerOptions = {}): Promise<LoadedScorers> {
  const find = (names: string[]) => names.map((n) => join(dir, n)).find((p) => existsSync(join(p, 'onnx')));
  const dinoDir = find(DINO_NAMES);
  const clipDir = find(CLIP_NAMES);
  const missing = [...(dinoDir ? [] : [DINO_NAMES[0]]), ...(clipDir ? [] : [CLIP_NAMES[0]])];
  const dino = dinoDir ? await DinoScorer.load(dinoDir, options) : undefined;
  try {
    const clip = clipDir ? await ClipScorer.load(clipDir, options) : undefined;
    return { dino, clip, missing };
  } catch (err) {
    await dino?.release();
    throw err;
  }
}
