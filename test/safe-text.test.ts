import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_GROUNDING, reasoningEmbed } from '../src/bot/delivery/reasoning-embed.ts';
import { threadName } from '../src/bot/delivery/result-thread.ts';
import { plainText, safeText } from '../src/util/safe-text.ts';

/** Escapes `text`, checks the result is `expected`, and that escaping it again changes nothing. */
function shows(text: string, expected: string): void {
  const once = safeText(text);
  assert.equal(once, expected, `escaping ${JSON.stringify(text)}`);
  assert.equal(safeText(once), once, `escaping ${JSON.stringify(text)} twice adds nothing`);
}

test('safeText leaves plain text unchanged', () => {
  for (const text of ['a cat on a skateboard, at sunset.', 'Rex', 'my dog (a corgi): 3 years old!', 'I <3 cats', '#hashtag', 'ünïcödé 😀 text', '']) shows(text, text);
});

test('safeText escapes masked links so they show literally, nested ones too, and leaves the URL visible', () => {
  shows('[Claim your free Nitro](https://evil.example/login)', '\\[Claim your free Nitro](https://evil.example/login)');
  shows('see [a [b](https://evil.example)', 'see \\[a \\[b](https://evil.example)');
  shows('https://example.com/a_b_c', 'https://example.com/a_b_c');
});

test('safeText escapes headers and subtext at the start of a line', () => {
  shows('# big', '\\# big');
  shows('### h3\n  ## h2', '\\### h3\n  \\## h2');
  shows('-# small', '\\-# small');
  shows('text\n-# small', 'text\n\\-# small');
});

test('safeText escapes block quotes and lists at the start of a line', () => {
  shows('> quote', '\\> quote');
  shows('>>> all of it', '\\>>> all of it');
  shows('- one\n* two\n+ three\n1. four\n2) five', '\\- one\n\\* two\n\\+ three\n1\\. four\n2\\) five');
});

test('safeText escapes timestamps, mentions, emoji, command mentions and angle-bracket links', () => {
  shows('<t:1700000000:R>', '\\<t:1700000000:R>');
  shows('<@123> <@&4> <#456> <:e:789> </subject list:1> <https://evil.example>', '\\<@123> \\<@&4> \\<#456> \\<:e:789> \\</subject list:1> \\<https://evil.example>');
});

test('safeText escapes code, emphasis, strikethrough and spoilers', () => {
  shows('```js\ncode\n```', '\\`\\`\\`js\ncode\n\\`\\`\\`');
  shows('`x`', '\\`x\\`');
  shows('**bold** _it_ __u__ ~~s~~ ||spoiler||', '\\*\\*bold\\*\\* \\_it\\_ \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|spoiler\\|\\|');
});

test('safeText never escapes twice: backslashes show, already escaped text stays as it is', () => {
  shows('C:\\path', 'C:\\\\path');
  // The user's own escape is kept as one escape, not turned into a visible backslash plus bold.
  shows('\\*\\*not bold\\*\\*', '\\*\\*not bold\\*\\*');
  const hostile = '# [Nitro](https://evil.example) <t:1:R> **x** ||y|| > z';
  const once = safeText(hostile);
  assert.equal(safeText(safeText(once)), once);
  assert.doesNotMatch(once, /\\\\/, 'no escaped backslash appears where there was none');
});

test('safeText cuts to max characters (code points) after escaping, never inside an escape or a surrogate pair', () => {
  const long = '[Nitro](https://evil.example) '.repeat(20);
  const cut = safeText(long, { max: 50 });
  assert.ok(cut.length <= 50, String(cut.length));
  assert.ok(cut.endsWith('…'));
  assert.doesNotMatch(cut, /\\…$/);
  assert.ok(cut.startsWith('\\[Nitro](https://evil.example) \\[Nitro]'), cut);
  assert.equal(safeText(cut, { max: 50 }), cut, 'a cut text escaped again stays the same');
  assert.equal(safeText('😀😀😀😀', { max: 4 }), '😀😀😀😀', 'four emoji are four characters');
  assert.equal(safeText('😀😀😀😀😀', { max: 4 }), '😀😀😀…');
  assert.equal(safeText('short', { max: 50 }), 'short');
});

test('plainText (thread names, autocomplete) is not escaped, only collapsed and cut to Discord length', () => {
  assert.equal(plainText('# big [Nitro](https://evil.example)\n\nnext', 100), '# big [Nitro](https://evil.example) next');
  assert.equal(plainText('x'.repeat(150), 100).length, 100);
  assert.equal(plainText('   ', 100, 'fallback'), 'fallback');
  assert.equal(threadName('**[Nitro](https://e.x)**'), '**[Nitro](https://e.x)**');
  assert.ok(threadName('a'.repeat(300)).length <= 100);
});

test('the reasoning embed shows grounding text literally (it repeats user names and context)', () => {
  const embed = reasoningEmbed('A dog called [Rex](https://evil.example).\n# Loud').toJSON();
  assert.equal(embed.description, 'A dog called \\[Rex](https://evil.example).\n\\# Loud');
  assert.ok((reasoningEmbed('x'.repeat(5000)).toJSON().description ?? '').length <= 4096);
});

test('an empty grounding is said in words in the reasoning embed, not shown as a blank', () => {
  const description = reasoningEmbed('').toJSON().description ?? '';
  assert.equal(description, EMPTY_GROUNDING);
  assert.match(description, /wrote nothing about your subject/);
});

test('the reasoning embed leaves out control characters and U+FFFD (bytes of a character the model cut)', () => {
  assert.equal(reasoningEmbed('a dog\u0000 with\u001d a \uFFFDhat\nand more').toJSON().description, 'a dog with a hat\nand more');
  assert.equal(reasoningEmbed('\u0002\uFFFD').toJSON().description, EMPTY_GROUNDING);
});
