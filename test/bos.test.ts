/**
 * BOS by the official recipe (deepseek-ai/Janus processing_vlm.py encodes the conversation with the
 * tokenizer's default, which adds BOS): every prompt row starts with BOS exactly once, whether the
 * bundle's chat template writes it (our first fixture's form) or not (the shape of transformers'
 * Janus template). The fixtures differ only in the template, so both must give the model the same ids.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkBundle } from '../src/pipeline/bundle-report/check-bundle.ts';
import { reportLines } from '../src/pipeline/bundle-report/report-lines.ts';
import { Personalizer, type SubjectImages } from '../src/pipeline/personalizer.ts';
import { removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';
import { loadReference, parityPhotos } from './helpers/transformers-reference.ts';

const KINDS = { 'writes BOS': true, 'writes no BOS': false } as const;
type Kind = keyof typeof KINDS;
const bundle = (kind: Kind) => tinyBundle(1, 'concat', ['fp32'], { templateBos: KINDS[kind] });
const PROMPT = 'a dog wearing a space suit';

const ours = new Map<Kind, Personalizer>();
const subjects = new Map<Kind, SubjectImages>();
let photos: Buffer[];

before(async () => {
  photos = await parityPhotos();
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const p = await Personalizer.load(bundle(kind), { intraOpThreads: 1 });
    ours.set(kind, p);
    subjects.set(kind, await p.prepareImages(photos.map((bytes, i) => ({ bytes, name: `photo${i}` }))));
  }
});

after(async () => {
  for (const p of ours.values()) await p.close();
  removeTinyBundles();
});

const count = (ids: number[], id: number) => ids.filter((x) => x === id).length;

for (const kind of Object.keys(KINDS) as Kind[]) {
  test(`template that ${kind}: grounding and generation rows start with BOS exactly once, and the janus uncond row is BOS then pad up to <begin_of_image>`, async () => {
    const p = ours.get(kind)!;
    const { bos, pad } = p.tokenizer;
    assert.equal(p.tokenizer.templateWritesBos('text_to_image'), KINDS[kind]);
    const grounding = await p.ground(subjects.get(kind)!, { name: 'Rex' }, { maxNewTokens: 2 });
    assert.equal(grounding.promptIds[0], bos);
    assert.equal(count(grounding.promptIds, bos), 1);
    for (const subject of [null, subjects.get(kind)!]) {
      const g = await p.generate({ prompt: PROMPT, subject, grounding: subject ? 'a small brown dog' : '', cfgWeight: 5, uncond: 'janus', seed: 1, greedy: true });
      const { cond, uncond } = g.promptIds!;
      assert.equal(cond[0], bos);
      assert.equal(count(cond, bos), 1);
      const boi = cond.at(-1)!;
      assert.equal(p.tokenizer.decode([boi]), '', 'the row ends with a special token (<begin_of_image>)');
      assert.deepEqual(uncond, [bos, ...new Array<number>(cond.length - 2).fill(pad), boi]);
    }
  });
}

test('both template kinds give the model the same ids, so the same request draws the same image and grounds the same text', async () => {
  const [withBos, without] = [ours.get('writes BOS')!, ours.get('writes no BOS')!];
  const request = (k: Kind) => ({ prompt: PROMPT, subject: subjects.get(k)!, grounding: 'a small brown dog', cfgWeight: 5, uncond: 'janus' as const, seed: 4 });
  const a = await withBos.generate(request('writes BOS'));
  const b = await without.generate(request('writes no BOS'));
  assert.deepEqual(b.promptIds, a.promptIds);
  assert.deepEqual(b.images[0].imageTokens, a.images[0].imageTokens);
  const ga = await withBos.ground(subjects.get('writes BOS')!, {}, { maxNewTokens: 6 });
  const gb = await without.ground(subjects.get('writes no BOS')!, {}, { maxNewTokens: 6 });
  assert.deepEqual(gb.promptIds, ga.promptIds);
  assert.deepEqual(gb.tokenIds, ga.tokenIds);
});

test('the self-judge asks with BOS first on both template kinds: the same answers', async () => {
  const candidate = (await ours.get('writes BOS')!.generate({ prompt: PROMPT, seed: 2, cfgWeight: 1 })).images[0].data;
  const a = await ours.get('writes BOS')!.judge(subjects.get('writes BOS')!, [candidate], PROMPT);
  const b = await ours.get('writes no BOS')!.judge(subjects.get('writes no BOS')!, [candidate], PROMPT);
  assert.deepEqual(b, a);
});

test('transformers.js feeds BOS only when the template writes it (it encodes without special tokens); the engine always does', async () => {
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const ref = await loadReference(bundle(kind));
    try {
      const inputs = await ref.processor([{ role: '<|User|>', content: PROMPT }], { chat_template: 'text_to_image' });
      const refIds = (inputs.input_ids.tolist()[0] as bigint[]).map(Number);
      const g = await ours.get(kind)!.generate({ prompt: PROMPT, cfgWeight: 1, greedy: true });
      const bos = ours.get(kind)!.tokenizer.bos;
      assert.equal(refIds[0] === bos, KINDS[kind], kind);
      // Apart from that BOS, transformers.js and the engine encode the same prompt.
      assert.deepEqual(KINDS[kind] ? refIds : [bos, ...refIds], g.promptIds!.cond, kind);
    } finally {
      await ref.model.dispose();
    }
  }
});

test('check-bundle says whether the templates write BOS, and where the engine departs from transformers.js', async () => {
  const line = async (kind: Kind) => reportLines(await checkBundle(bundle(kind))).find((l) => l.startsWith('chat templates:'))!;
  assert.match(await line('writes BOS'), /BOS written by default and text_to_image \(as transformers\.js feeds it\)/);
  assert.match(await line('writes no BOS'), /BOS not written by default and text_to_image: the engine puts it first, as the official recipe does \(transformers\.js feeds no BOS there/);
  assert.deepEqual((await checkBundle(bundle('writes no BOS'))).chatTemplates.bos, { writes: [], omits: ['default', 'text_to_image'] });
});

test('the CLI\'s --json gives the ids of every prompt row it ran (grounding, cond, uncond), BOS first on a template without it', () => {
  const cli = fileURLToPath(new URL('../src/cli/personalize.ts', import.meta.url));
  const dir = scratchDir('bos-cli');
  const photo = `${dir}.png`;
  writeFileSync(photo, photos[0]);
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, '--model', bundle('writes no BOS'), '--prompt', PROMPT, '--image', photo, '--seed', '3', '--json', '--out', `${dir}.png`.replace('.png', '-out.png')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { promptIds: { cond: number[]; uncond: number[]; grounding: number[] } };
  const { bos, pad } = ours.get('writes no BOS')!.tokenizer;
  for (const row of ['cond', 'uncond', 'grounding'] as const) {
    assert.equal(out.promptIds[row][0], bos, row);
    assert.equal(count(out.promptIds[row], bos), 1, row);
  }
  assert.equal(out.promptIds.uncond.length, out.promptIds.cond.length);
  assert.deepEqual(out.promptIds.uncond.slice(1, -1), new Array<number>(out.promptIds.cond.length - 2).fill(pad));
});
