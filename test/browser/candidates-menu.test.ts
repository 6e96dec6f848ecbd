import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionPerFile, skipReason } from './session.ts';

// A select menu as Discord shows it: /personalize with candidates gives a result with a candidate
// menu; its owner's pick replaces the image in place, another member's pick is answered to them alone.
const s = sessionPerFile('candidates-menu');

test('picking a candidate from the menu swaps the image for its owner, and shows it only to another member', { skip: skipReason, timeout: 120_000 }, async () => {
  const { page } = s;
  await page.getByRole('button', { name: '/personalize' }).click();
  await page.locator('#opt-prompt').fill('a cat in a hat');
  await page.locator('#opt-image1').setInputFiles(await s.photo('cat.png', '#808030'));
  await page.locator('[data-option="image1"]', { hasText: 'KiB' }).waitFor();
  await page.locator('#opt-candidates').fill('2');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const thread = page.locator('#channels ul button').first();
  await thread.waitFor({ timeout: 60_000 });
  await thread.click();

  const result = page.locator('#messages .message', { has: page.locator('.row select') }).first();
  await result.waitFor({ timeout: 60_000 });
  const id = await result.getAttribute('data-message-id');
  const menu = result.locator('.row select');
  const shown = await menu.inputValue();
  const other = await menu.locator('option').evaluateAll((options, current) => options.map((o) => (o as HTMLOptionElement).value).find((v) => v && v !== current), shown);
  assert.ok(other, 'the menu offers another candidate');
  const before = await result.locator('.images img').getAttribute('src');
  await s.shot('01-candidates');

  await menu.selectOption(other!);
  const updated = page.locator(`[data-message-id="${id}"]`);
  await page.waitForFunction(
    ([msg, old]) => document.querySelector(`[data-message-id="${msg}"] .images img`)?.getAttribute('src') !== old,
    [id, before] as const,
    { timeout: 30_000 },
  );
  assert.equal(await updated.locator('.row select').inputValue(), other, 'the menu now marks the picked candidate');
  await s.shot('02-picked');

  await page.locator('#viewer').selectOption({ label: 'bob' });
  const bobMenu = page.locator(`[data-message-id="${id}"] .row select`);
  await bobMenu.waitFor();
  await bobMenu.selectOption(shown);
  const answer = page.locator('#messages .message.ephemeral', { has: page.locator('.images img') });
  await answer.waitFor({ timeout: 30_000 });
  await s.shot('03-bob-looks');
  await page.locator('#viewer').selectOption({ label: 'alice' });
  await page.waitForFunction(() => document.querySelectorAll('#messages .message').length > 0 && !document.querySelector('#messages .message.ephemeral .images img'));
  assert.equal(await page.locator(`[data-message-id="${id}"] .row select`).inputValue(), other, "bob's look changed nothing for alice");

  assert.deepEqual(s.sandbox.emulator.violations(), []);
});
