import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLines, listWithin, MESSAGE_MAX_CHARS } from '../src/bot/message-fit.ts';
import { GenerateOptionsSchema, SubjectContextSchema } from '../src/request-options.ts';
import { cleanContext, cleanName } from '../src/store/subject-names.ts';
import { plainText, safeText } from '../src/util/safe-text.ts';
import { charCount, cutToChars, truncateChars } from '../src/util/text-length.ts';

const CAT = '🐱'; // one code point, two UTF-16 units
const FAMILY = '👨‍👩‍👧'; // one grapheme cluster, five code points (three emoji joined by ZWJ)
const FLAG = '🇫🇷'; // one grapheme cluster, two code points
const E_ACUTE = 'e\u0301'; // e and a combining accent

/** True when `text` holds half a surrogate pair. */
function hasLoneSurrogate(text: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

test('charCount counts code points, as Discord does: an emoji is one character, a ZWJ family five', () => {
  assert.equal(charCount(CAT.repeat(300)), 300);
  assert.equal(CAT.repeat(300).length, 600);
  assert.equal(charCount(FAMILY), 5);
  assert.equal(charCount(''), 0);
});

test('cutToChars keeps at most max code points and never splits a surrogate pair or a grapheme cluster', () => {
  assert.equal(cutToChars(`a${CAT.repeat(40)}`, 32), `a${CAT.repeat(31)}`);
  assert.equal(cutToChars(`${'a'.repeat(30)}${FAMILY}z`, 32), 'a'.repeat(30));
  assert.equal(cutToChars(`${'a'.repeat(31)}${FLAG}`, 32), 'a'.repeat(31));
  assert.equal(cutToChars(`${'a'.repeat(31)}${E_ACUTE}`, 32), 'a'.repeat(31));
  assert.equal(cutToChars('short', 32), 'short');
  for (let max = 0; max < 12; max++) {
    const cut = cutToChars(`x${CAT}${FAMILY}${FLAG}${E_ACUTE}${CAT}`, max);
    assert.ok(charCount(cut) <= max, `${max}: ${cut}`);
    assert.equal(hasLoneSurrogate(cut), false, `${max}: ${JSON.stringify(cut)}`);
  }
});

test('truncateChars ends a cut with an ellipsis within max code points', () => {
  const cut = truncateChars(CAT.repeat(100), 80);
  assert.equal(charCount(cut), 80);
  assert.ok(cut.endsWith('…'));
  assert.equal(truncateChars(CAT.repeat(80), 80), CAT.repeat(80), 'exactly max is not cut');
});

test('safeText and plainText count max in code points and cut on grapheme boundaries', () => {
  assert.equal(safeText(CAT.repeat(300), { max: 300 }), CAT.repeat(300), 'fits: 300 characters, though 600 UTF-16 units');
  const cut = safeText(`*${FAMILY.repeat(10)}`, { max: 12 });
  assert.ok(charCount(cut) <= 12, cut);
  assert.equal(cut, `\\*${FAMILY}…`);
  const plain = plainText(FAMILY.repeat(30), 100);
  assert.ok(charCount(plain) <= 100);
  assert.equal(plain, `${FAMILY.repeat(19)}…`);
  assert.equal(plainText(CAT.repeat(100), 100), CAT.repeat(100));
});

test('a context of 300 emoji is accepted by /personalize’s options and by a subject alike; 501 characters by neither', () => {
  const context = CAT.repeat(300);
  assert.equal(cleanContext(context), context);
  assert.equal(SubjectContextSchema.parse({ context }).context, context);
  const over = CAT.repeat(501);
  assert.throws(() => cleanContext(over), /longer than 500 characters/);
  assert.equal(SubjectContextSchema.safeParse({ context: over }).success, false);
  assert.equal(GenerateOptionsSchema.safeParse({ prompt: CAT.repeat(1000) }).success, true);
  assert.equal(GenerateOptionsSchema.safeParse({ prompt: CAT.repeat(1001) }).success, false);
  assert.equal(GenerateOptionsSchema.safeParse({ prompt: '  ' }).success, false);
  assert.equal(cleanName(CAT.repeat(32)), CAT.repeat(32));
  assert.throws(() => cleanName(CAT.repeat(33)), /longer than 32 characters/);
});

test('fitLines keeps a message within 2000 characters and says how many items it left out', () => {
  const lines = ['Saved:', ...Array.from({ length: 100 }, (_, i) => `• “${CAT.repeat(60)} ${i}”`)];
  const content = fitLines(lines);
  assert.ok(charCount(content) <= MESSAGE_MAX_CHARS, `${charCount(content)}`);
  const shown = content.split('\n').filter((l) => l.startsWith('• ')).length;
  assert.match(content, new RegExp(`…and ${100 - shown} more\\.$`));
  assert.equal(fitLines(['a', 'b']), 'a\nb');
  const alone = fitLines([CAT.repeat(3000)]);
  assert.ok(charCount(alone) <= MESSAGE_MAX_CHARS && alone.endsWith('…'));
});

test('listWithin joins items within max characters and counts the ones left out', () => {
  const items = Array.from({ length: 100 }, (_, i) => `“${'x'.repeat(50)}${i}”`);
  const list = listWithin(items, 800);
  assert.ok(charCount(list) <= 800, `${charCount(list)}`);
  const shown = list.split(', ').length;
  assert.match(list, new RegExp(` and ${100 - shown} more$`));
  assert.equal(listWithin(['a', 'b'], 800), 'a, b');
});
