import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';

/** One subject of a DreamBench-layout folder: its photos and the prompts it is drawn with. */
export interface BenchSubject {
  name: string;
  /** The class word of prompts_and_classes.txt ("dog", "backpack", "stuffed animal"). */
  className: string;
  /** Live subjects (DreamBench's cats and dogs) get the live prompt list. */
  live: boolean;
  photos: string[];
  prompts: string[];
}

const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);
/** DreamBench's live subjects are its cats and dogs (the dataset's "Live Subject Prompts" list). */
const LIVE_CLASSES = new Set(['cat', 'dog']);

/**
 * Reads a folder laid out as google/dreambooth's dataset/: one folder of photos per subject and
 * prompts_and_classes.txt with its "subject_name,class" table and the two Python prompt lists
 * ("Object Prompts", "Live Subject Prompts") of 'a {0} {1} ...'.format(unique_token, class_token)
 * templates. {0} becomes `uniqueToken` (empty by default: the photos carry the subject here, no
 * token is learnt), {1} the class.
 */
export function readDreamBenchSet(dir: string, uniqueToken = ''): BenchSubject[] {
  const listing = join(dir, 'prompts_and_classes.txt');
  if (!existsSync(listing)) throw new Error(`${listing} not found (a DreamBench-layout folder has it next to the subject folders)`);
  const text = readFileSync(listing, 'utf8');
  const classes = parseClasses(text);
  const objectPrompts = promptList(text, 'Object Prompts');
  const livePrompts = promptList(text, 'Live Subject Prompts');
  const subjects: BenchSubject[] = [];
  for (const [name, className] of classes) {
    const folder = join(dir, name);
    if (!existsSync(folder)) continue;
    const photos = readdirSync(folder)
      .filter((f) => PHOTO_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort()
      .map((f) => join(folder, f));
    if (photos.length === 0) continue;
    const live = LIVE_CLASSES.has(className);
    const prompts = (live ? livePrompts : objectPrompts).map((t) => fill(t, uniqueToken, className));
    subjects.push({ name, className, live, photos, prompts });
  }
  if (subjects.length === 0) throw new Error(`no subject folder of ${listing} holds photos in ${dir}`);
  return subjects;
}

function parseClasses(text: string): [string, string][] {
  const start = text.indexOf('subject_name,class');
  if (start < 0) throw new Error('prompts_and_classes.txt has no "subject_name,class" table');
  const out: [string, string][] = [];
  for (const line of text.slice(start).split('\n').slice(1)) {
    const row = line.trim();
    if (!row) break;
    const comma = row.indexOf(',');
    if (comma > 0) out.push([row.slice(0, comma).trim(), row.slice(comma + 1).trim()]);
  }
  return out;
}

/** The quoted templates of the prompt_list under `heading`. */
function promptList(text: string, heading: string): string[] {
  const at = text.indexOf(heading);
  if (at < 0) throw new Error(`prompts_and_classes.txt has no "${heading}" list`);
  const open = text.indexOf('[', at);
  const close = text.indexOf(']', open);
  const list = [...text.slice(open, close).matchAll(/'([^']*)'\.format/g)].map((m) => m[1]);
  if (list.length === 0) throw new Error(`the "${heading}" list of prompts_and_classes.txt is empty`);
  return list;
}

function fill(template: string, uniqueToken: string, className: string): string {
  return template.replace('{0}', uniqueToken).replace('{1}', className).replace(/\s+/g, ' ').trim();
}
