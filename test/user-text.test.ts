import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../src/errors.ts';
import { findReservedToken, UserTextRules } from '../src/decoding/user-text.ts';
import { isBlankText, nameSkeleton } from '../src/util/visible-text.ts';
import { cleanName, openStores } from '../src/store/index.ts';
import { removeTinyBundles, tinyBundle } from './helpers/tiny-bundle.ts';

const A = '1300000000000000011';
const B = '1300000000000000012';
const G1 = '1200000000000000011';
const G2 = '1200000000000000021';
const dirs: string[] = [];

after(async () => {
  removeTinyBundles();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function refuses(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err) => err instanceof InputError && err.code === code && (!message || message.test(err.message)));
}

test('the rules read every reserved token of the bundle: special added tokens, bos/eos/pad, image tags', () => {
  const rules = UserTextRules.fromBundle(tinyBundle(1));
  for (const t of ['<|User|>', '<|Assistant|>', '<image_placeholder>', '<begin_of_image>', '<end_of_image>', '<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<pad>']) {
    assert.ok(rules.reserved.includes(t), t);
  }
  assert.equal(findReservedToken('a dog <|User|> on the moon', rules.reserved), '<|User|>');
  assert.equal(findReservedToken('a dog ＜|User|＞ on the moon', rules.reserved), '<|User|>', 'full-width look-alikes normalize to the token');
  assert.equal(findReservedToken('a dog <User> on the moon', rules.reserved), undefined);
});

test('UserTextRules.check refuses reserved tokens in any field and text with nothing visible', () => {
  const rules = UserTextRules.fromBundle(tinyBundle(1));
  refuses(() => rules.check({ prompt: 'my dog <|User|> hi' }), 'reserved_token', /prompt can't contain <\|User\|>/);
  refuses(() => rules.check({ prompt: 'ok', name: 'Rex<image_placeholder>' }), 'reserved_token', /name can't contain <image_placeholder>/);
  refuses(() => rules.check({ prompt: 'ok', context: 'x <begin_of_image>' }), 'reserved_token', /context/);
  for (const invisible of ['\u200b', '\u200b\u200b\u200b', '\u3164', '\u2800', '\u00a0', '\ufeff', '\u200d\u2060', '\u115f\u1160\uffa0', '\u3000 \u200e']) {
    refuses(() => rules.check({ prompt: invisible }, { required: ['prompt'] }), 'blank_text', /prompt (has no visible characters|is empty)/);
  }
  refuses(() => rules.check({ prompt: '   ' }, { required: ['prompt'] }), 'blank_text', /prompt is empty/);
  // Ordinary text, emoji (with their joiners) and absent optional fields pass.
  rules.check({ prompt: 'a dog on the moon', name: '👨‍👩‍👧 family', context: undefined }, { required: ['prompt'] });
  rules.check({ context: '' });
});

test('isBlankText: invisible and filler characters only', () => {
  for (const s of ['', ' ', '\u200b', '\u3164', '\u2800', '\u00a0', '\ufeff', '\u180e', '\ufe0f', '\u{e0041}']) assert.ok(isBlankText(s), JSON.stringify(s));
  for (const s of ['a', '.', '🐕', '\u3164x', '日本']) assert.ok(!isBlankText(s), s);
});

test('nameSkeleton: Cyrillic/Greek homoglyphs, inserted joiners, width and case give one skeleton', () => {
  const rex = nameSkeleton('Rex');
  for (const alike of ['R\u0435x', 'Re\u200dx', 'Re\u200bx', 'ＲＥＸ', 'REX', 'R\u0415X', 'R\u0435\u0445', '\u0280ex'.replace('\u0280', 'R')]) {
    assert.equal(nameSkeleton(alike), rex, alike);
  }
  assert.equal(nameSkeleton('B\u043e\u0432'), nameSkeleton('bob'));
  assert.equal(nameSkeleton('\u0412\u041e\u0412'), nameSkeleton('BOB'));
  assert.equal(nameSkeleton('\u039c\u0399\u0391'), nameSkeleton('mia'), 'Greek capitals');
  assert.notEqual(nameSkeleton('Rey'), rex);
  assert.equal(nameSkeleton('\u0420ex'), nameSkeleton('pex'), 'Cyrillic capital Er looks like P');
  assert.notEqual(nameSkeleton('Rex the dog'), nameSkeleton('Rexthe dog'));
});

async function photo(seed: number): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 30, channels: 3, background: { r: seed * 20, g: 80, b: 160 } } }).png().toBuffer();
}

test('subject store: a look-alike of a name shared in the server, or of an own name, is refused; nothing is stored', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'xcot-user-text-'));
  dirs.push(dir);
  const stores = await openStores({ dataDir: dir });
  try {
    const { subjects } = stores;
    const p = await photo(1);
    await subjects.save({ ownerId: A, guildId: G1, name: 'Rex', photos: [p] });
    await subjects.share(A, G1, 'Rex');
    const refused = async (promise: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(promise, (err) => err instanceof InputError && err.code === 'subject_name_lookalike' && pattern.test(err.message));
    // Cyrillic е, an inserted zero-width joiner: refused in the server where Rex is shared.
    await refused(subjects.save({ ownerId: B, guildId: G1, name: 'R\u0435x', photos: [p] }), /looks the same as “Rex”, which is shared in this server/);
    await refused(subjects.save({ ownerId: B, guildId: G1, name: 'Re\u200dx', photos: [p] }), /looks the same as “Rex”/);
    assert.equal(await subjects.count(B), 0);
    // Elsewhere it is not visible, so the name is free there; but it cannot be shared where Rex is, nor renamed into a look-alike.
    const bo = await subjects.save({ ownerId: B, guildId: G1, name: 'Bo', photos: [p] });
    await refused(subjects.rename(B, G1, bo.id, 'R\u0415\u200dX'), /looks the same as “Rex”, which is shared in this server/);
    const other = await subjects.save({ ownerId: B, guildId: G2, name: 'R\u0435x', photos: [p] });
    await refused(subjects.share(B, G1, other.id), /looks the same as “Rex”, which is already shared/);
    // One's own look-alikes too.
    await refused(subjects.save({ ownerId: A, guildId: null, name: 'R\u0435x', photos: [p] }), /which is already one of your subjects/);
    // Names with nothing visible.
    assert.throws(() => cleanName('\u3164'), /no visible characters/);
    assert.throws(() => cleanName('\u2800\u2800'), /no visible characters/);
    // B has Bo and (saved in the other server) Rеx; A's Rex is untouched.
    assert.equal(await subjects.count(B), 2);
    assert.deepEqual((await subjects.list(A, G1)).map((s) => s.name), ['Rex']);
  } finally {
    await stores.close();
  }
});
