import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { sessionPerFile, skipReason } from './session.ts';

// A subject saved from a result through the Save subject modal, shared with /subject share (picked
// through autocomplete), then used by another member through /personalize's subject autocomplete.
const s = sessionPerFile('shared-subject');

/** Sends /personalize from #general and opens the thread its result lands in. */
async function personalize(page: Page, fill: () => Promise<void>): Promise<void> {
  await page.locator('#channels button', { hasText: '# general' }).click();
  const threads = await page.locator('#channels ul button').count();
  await page.getByRole('button', { name: '/personalize' }).click();
  await fill();
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const thread = page.locator('#channels ul button').nth(threads);
  await thread.waitFor({ timeout: 60_000 });
  await thread.click();
  await page.locator('#messages .images img').first().waitFor({ timeout: 60_000 });
}

/** Types into an autocomplete option and picks the suggestion that contains `pick`. */
async function autocomplete(page: Page, option: string, typed: string, pick: string): Promise<void> {
  await page.locator(`#opt-${option}`).fill(typed);
  const suggestion = page.getByRole('list', { name: `${option} suggestions` }).getByRole('button', { name: pick });
  await suggestion.first().waitFor({ timeout: 15_000 });
  await suggestion.first().click();
}

test('save a subject from a result, share it, and use it as another member', { skip: skipReason, timeout: 150_000 }, async () => {
  const { page } = s;
  await personalize(page, async () => {
    await page.locator('#opt-prompt').fill('Rex at the beach');
    await page.locator('#opt-name').fill('Rex');
    await page.locator('#opt-image1').setInputFiles(await s.photo('rex.png', '#a05020'));
    await page.locator('[data-option="image1"]', { hasText: 'KiB' }).waitFor();
  });

  await page.locator('#messages .message', { has: page.locator('.images img') }).first().getByRole('button', { name: 'Save subject' }).click();
  const modal = page.locator('#modal[open]');
  await modal.waitFor();
  assert.equal(await modal.locator('#modal-name').inputValue(), 'Rex', 'the modal offers the name given to /personalize');
  await modal.locator('#modal-context').fill('a brown dog with a white patch');
  await s.shot('01-save-modal');
  await modal.getByRole('button', { name: 'Submit' }).click();
  await page.locator('#messages .message.ephemeral', { hasText: 'Saved as' }).waitFor({ timeout: 30_000 });

  await page.getByRole('button', { name: '/subject' }).click();
  await page.getByRole('combobox', { name: 'Subcommand' }).selectOption('share');
  await autocomplete(page, 'name', 'Re', 'Rex');
  await s.shot('02-share-autocomplete');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  await page.locator('#messages .message.ephemeral', { hasText: 'is now shared in this server' }).waitFor({ timeout: 15_000 });
  await s.shot('03-shared');

  await page.locator('#viewer').selectOption({ label: 'bob' });
  await personalize(page, async () => {
    await page.locator('#opt-prompt').fill('skiing down a mountain');
    await autocomplete(page, 'subject', 'Re', 'Rex');
  });
  const result = page.locator('#messages .message', { has: page.locator('.images img') }).first();
  assert.match(await result.locator('.content').innerText(), /^Rex: skiing down a mountain/, 'drawn from alice\'s shared subject');
  await s.shot('04-bob-uses-rex');

  assert.deepEqual(s.sandbox.emulator.violations(), []);
});
