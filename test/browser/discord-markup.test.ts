import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SANDBOX_CHANNELS, SANDBOX_GUILD, SANDBOX_MEMBERS } from '../../src/sandbox/world.ts';
import { sessionPerFile, skipReason } from './session.ts';

// What Discord's client makes of message markup, the command picker per member, the option checks
// before Send, and the first screen, in the sandbox page.
const s = sessionPerFile('discord-markup');
const [ALICE, BOB] = SANDBOX_MEMBERS;
const [GENERAL, PETS] = SANDBOX_CHANNELS;

test('an empty channel shows the getting-started guide, gone once the channel has messages', { skip: skipReason }, async () => {
  const guide = s.page.locator('#guide');
  await guide.waitFor();
  assert.match(await guide.innerText(), /Press \/personalize below/);
  await s.shot('01-first-screen');
  s.sandbox.emulator.postMessage(PETS.id, ALICE.id, 'hello');
  await s.page.locator(`#channels [data-channel-id="${PETS.id}"]`).click();
  await s.page.locator('#messages .message', { hasText: 'hello' }).waitFor();
  assert.equal(await guide.isVisible(), false);
});

test('timestamps in every style, mentions, links, emoji, spoilers and code render as Discord shows them, user text never as HTML', { skip: skipReason }, async () => {
  const { page } = s;
  const inTwoMinutes = Math.round(Date.now() / 1000) + 125;
  const at = 1_796_658_110;
  const link = `https://discord.com/channels/${SANDBOX_GUILD.id}/${PETS.id}/1500000000000009999`;
  const content = [
    `ready about <t:${inTwoMinutes}:R>`,
    `styles <t:${at}:t> | <t:${at}:T> | <t:${at}:d> | <t:${at}:D> | <t:${at}> | <t:${at}:F>`,
    `<@${BOB.id}> see <#${PETS.id}> and <@&${SANDBOX_GUILD.id}> then ${link}`,
    'emoji <:party_blob:1500000000000008888> ||secret <img src=x onerror=alert(1)>|| ~~old~~',
    '```js\nconst x = "<b>not bold</b>";\n```',
  ].join('\n');
  s.sandbox.emulator.postMessage(GENERAL.id, ALICE.id, content);
  await page.locator(`#channels [data-channel-id="${GENERAL.id}"]`).click();
  const message = page.locator('#messages .message', { hasText: 'ready about' });
  await message.waitFor();
  const times = message.locator('time.timestamp');
  assert.equal(await times.count(), 7);
  assert.equal(await times.nth(0).innerText(), 'in 2 minutes');
  // What the browser's own Intl says for Discord's styles t, T, d, D, f (the default) and F.
  const styles: Intl.DateTimeFormatOptions[] = [
    { hour: 'numeric', minute: '2-digit' },
    { hour: 'numeric', minute: '2-digit', second: '2-digit' },
    { year: 'numeric', month: '2-digit', day: '2-digit' },
    { dateStyle: 'long' },
    { dateStyle: 'long', timeStyle: 'short' },
    { dateStyle: 'full', timeStyle: 'short' },
  ];
  const expected = await page.evaluate(({ at, styles }) => styles.map((o) => new Intl.DateTimeFormat(undefined, o).format(new Date(at * 1000))), { at, styles });
  for (let i = 0; i < 6; i++) assert.equal(await times.nth(i + 1).innerText(), expected[i]);
  // Relative times stay current without a reload, as in Discord.
  await page.evaluate(() => {
    const node = document.querySelector('time.timestamp[data-style="R"]') as HTMLElement;
    node.dataset.seconds = String(Math.round(Date.now() / 1000) - 3 * 3600);
  });
  await page.waitForFunction(() => document.querySelector('time.timestamp[data-style="R"]')?.textContent === '3 hours ago');

  assert.equal(await message.locator('.mention', { hasText: '@bob' }).count(), 1);
  assert.equal(await message.locator('.channel-mention').innerText(), '#pets');
  assert.equal(await message.locator('.mention', { hasText: /^@everyone$/ }).count(), 1);
  assert.equal(await message.locator('.message-link').innerText(), '#pets › message');
  assert.equal(await message.locator('.custom-emoji').innerText(), ':party_blob:');
  const spoiler = message.locator('.spoiler');
  assert.equal(await spoiler.evaluate((n) => getComputedStyle(n).color), 'rgba(0, 0, 0, 0)');
  assert.equal(await message.locator('s').innerText(), 'old');
  assert.equal(await message.locator('pre.code-block code').innerText(), 'const x = "<b>not bold</b>";\n');
  // Text that looks like HTML stays text.
  assert.equal(await message.locator('img').count(), 0);
  assert.equal(await message.locator('b').count(), 0);
  await s.shot('02-markup');
  await spoiler.click();
  assert.match(await spoiler.innerText(), /secret <img src=x onerror=alert\(1\)>/);

  // A channel chip and a message link open that channel.
  await message.locator('.message-link').click();
  await page.locator('#channel-title', { hasText: '# pets' }).waitFor();
  await page.locator(`#channels [data-channel-id="${GENERAL.id}"]`).click();
  await message.waitFor();
});

test('a member without Manage Server has no /settings in the picker; the member with it does', { skip: skipReason }, async () => {
  const { page } = s;
  const picker = page.locator('#command-buttons');
  await picker.getByRole('button', { name: '/settings' }).waitFor();
  await page.locator('#viewer').selectOption({ label: 'bob' });
  await picker.getByRole('button', { name: '/personalize' }).waitFor();
  await page.waitForFunction(() => ![...document.querySelectorAll('#command-buttons button')].some((b) => b.textContent === '/settings'));
  assert.deepEqual((await picker.locator('button').allInnerTexts()).sort(), ['/personalize', '/queue', '/subject']);
  await s.shot('03-bob-commands');
  await page.locator('#viewer').selectOption({ label: 'alice' });
  await picker.getByRole('button', { name: '/settings' }).waitFor();
});

test('the /personalize form shows each option\'s description and range and refuses an out-of-range value before Send', { skip: skipReason }, async () => {
  const { page } = s;
  const interactionsBefore = s.sandbox.emulator.messages(GENERAL.id).length;
  await page.getByRole('button', { name: '/personalize' }).click();
  assert.match(await page.locator('#opt-candidates-help').innerText(), /whole number 1 to \d/);
  assert.match(await page.locator('#opt-prompt-help').innerText(), /What the subject should be doing · up to \d+ characters/);
  await page.locator('#opt-prompt').fill('my dog');
  await page.locator('#opt-candidates').fill('99');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const error = page.locator('#opt-candidates-error');
  await error.waitFor();
  assert.match(await error.innerText(), /must be \d or less/);
  await s.shot('04-form-range');
  assert.equal(await page.locator('#command-panel').isVisible(), true, 'the form stays open');
  assert.equal(s.sandbox.emulator.messages(GENERAL.id).length, interactionsBefore, 'nothing was sent');
  await page.locator('#opt-prompt').fill('');
  await page.locator('#opt-candidates').fill('');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  assert.equal(await page.locator('#opt-prompt-error').innerText(), 'This option is required.');
  await page.locator('#command-form').getByRole('button', { name: 'Close' }).click();
});

test('the enlarged image keeps its aspect ratio', { skip: skipReason }, async () => {
  const { page } = s;
  const file = await s.photo('wide.png', '#208040');
  const upload = s.sandbox.emulator.uploadAttachment((await import('node:fs')).readFileSync(file), 'wide.png', 'image/png');
  s.sandbox.emulator.postMessage(GENERAL.id, ALICE.id, 'a wide one', [upload]);
  const img = page.locator('#messages .message', { hasText: 'a wide one' }).locator('.images img');
  await img.waitFor();
  await img.click();
  await page.locator('#lightbox[open] img').waitFor();
  await page.waitForFunction(() => (document.querySelector('#lightbox img') as HTMLImageElement).naturalWidth > 0);
  const box = await page.locator('#lightbox img').evaluate((n: HTMLImageElement) => ({ w: n.clientWidth, h: n.clientHeight, nw: n.naturalWidth, nh: n.naturalHeight, fit: getComputedStyle(n).objectFit }));
  assert.ok(box.w > box.nw, 'shown larger than its pixels');
  assert.ok(Math.abs(box.w / box.h - box.nw / box.nh) < 0.02 || box.fit === 'contain', `aspect kept: ${JSON.stringify(box)}`);
  assert.ok(Math.abs(box.w / box.h - box.nw / box.nh) < 0.02, `box ratio ${box.w}x${box.h} vs ${box.nw}x${box.nh}`);
  await s.shot('05-lightbox');
  await page.locator('#lightbox-close').click();
});

test('after a reload the sidebar lists the threads of every channel', { skip: skipReason }, async () => {
  const { page } = s;
  const emu = s.sandbox.emulator;
  const anchor = emu.postMessage(PETS.id, ALICE.id, 'thread here');
  const thread = await (await fetch(`${emu.restBase}/v10/channels/${PETS.id}/messages/${anchor.id}/threads`, {
    method: 'POST', headers: { authorization: 'Bot sandbox.local-bot-token.not-a-secret', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'pets thread' }),
  })).json() as { id: string };
  await page.reload();
  await page.locator('body[data-ready="true"]').waitFor();
  await page.locator(`#channels [data-channel-id="${thread.id}"]`).waitFor();
  assert.equal(await page.locator('#channel-title').innerText(), '# general');
});
