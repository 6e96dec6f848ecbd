import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { dropFile, sessionPerFile, skipReason } from './session.ts';

// One member's whole path through the web client: /personalize with two photos (picker and drop),
// the thread with the image and its buttons, Regenerate, Show reasoning, refining by a reply with a photo.
const s = sessionPerFile('personalize-flow');

test('personalize with two photos, regenerate, show reasoning and refine in the thread', { skip: skipReason, timeout: 150_000 }, async () => {
  const { page } = s;
  const images = page.locator('#messages .images img');
  await s.shot('01-empty-channel');

  await page.getByRole('button', { name: '/personalize' }).click();
  await page.locator('#opt-prompt').fill('my dog on the moon <b>bold?</b>');
  await page.locator('#opt-image1').setInputFiles(await s.photo('dog-front.png', '#a05020'));
  await dropFile(page, '[data-option="image2"]', 'dog-side.png', readFileSync(await s.photo('dog-side.png', '#306090')));
  await page.locator('[data-option="image1"]', { hasText: 'KiB' }).waitFor();
  await page.locator('[data-option="image2"]', { hasText: 'dog-side.png' }).waitFor();
  await page.locator('[data-option="image2"]', { hasText: 'KiB' }).waitFor();
  await s.shot('02-personalize-form');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const status = page.locator('#messages .message', { hasText: 'alice used /personalize' });
  await status.waitFor({ timeout: 30_000 });
  const statusId = await status.getAttribute('data-message-id');

  // The status is edited in place as the job runs (pushed over the WebSocket, no reload) until it points at the thread.
  await page.locator(`[data-message-id="${statusId}"]`, { hasText: 'Done' }).waitFor({ timeout: 60_000 });
  await s.shot('03-channel-status');

  // The thread the bot starts appears in the sidebar; its first message holds the image and buttons.
  const threadButton = page.locator('#channels ul button').first();
  await threadButton.waitFor({ timeout: 60_000 });
  await threadButton.click();
  await images.first().waitFor({ timeout: 60_000 });
  const result = page.locator('#messages .message', { has: page.locator('.images img') }).first();
  for (const name of ['Regenerate', 'Variations', 'Show reasoning', 'Save subject', 'Refine', 'Delete']) {
    assert.equal(await result.getByRole('button', { name }).count(), 1, `result has a ${name} button`);
  }
  assert.match(await result.locator('.fixture-note').innerText(), /random-weight test model/i);
  // User text is shown as text: the tags are characters, not markup.
  assert.equal(await result.locator('.content strong').innerText(), 'my dog on the moon <b>bold?</b>');
  assert.equal(await result.locator('.content b').count(), 0);
  // The image the bot uploaded, loaded from the local CDN and decoded by the browser.
  await page.waitForFunction(() => ((document.querySelector('#messages .images img') as HTMLImageElement | null)?.naturalWidth ?? 0) > 0);
  const src = String(await images.first().getAttribute('src'));
  assert.equal(s.sandbox.emulator.fileBytes(src).subarray(1, 4).toString(), 'PNG');
  await s.shot('04-thread-result');

  await images.first().click();
  await page.locator('#lightbox[open] img').waitFor();
  await s.shot('05-enlarged');
  await page.locator('#lightbox-close').click();

  await result.getByRole('button', { name: 'Show reasoning' }).click();
  const reasoning = page.locator('#messages .embed').first();
  await reasoning.waitFor({ timeout: 30_000 });
  assert.ok((await reasoning.innerText()).trim().length > 0, 'the reasoning embed has text');
  const reasoningMessage = page.locator('#messages .message', { has: page.locator('.embed') }).first();
  assert.match(await reasoningMessage.locator('.fixture-note').innerText(), /random-weight test model/i);
  await s.shot('06-reasoning');

  const before = await images.count();
  await result.getByRole('button', { name: 'Regenerate' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('#messages .images img').length > n, before, { timeout: 60_000 });
  await s.shot('07-regenerated');

  const beforeRefine = await images.count();
  await page.locator('#composer-text').fill('now wearing a red hat');
  await page.locator('#composer-picker').setInputFiles(await s.photo('dog-hat.png', '#c02020'));
  await page.locator('#composer-files .chip', { hasText: 'dog-hat.png' }).waitFor();
  await page.locator('#composer').getByRole('button', { name: 'Send' }).click();
  await page.locator('#messages .message', { hasText: 'now wearing a red hat' }).first().waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('#messages .images img').length > n + 1, beforeRefine, { timeout: 60_000 });
  await s.shot('08-refined');

  // The Refine button's modal: a new prompt and a photo dropped on its upload field.
  const beforeModal = await images.count();
  await result.getByRole('button', { name: 'Refine' }).click();
  const modal = page.locator('#modal[open]');
  await modal.waitFor();
  await modal.locator('textarea, input[type=text]').first().fill('on a surfboard');
  await dropFile(page, '#modal[open] .drop', 'dog-surf.png', readFileSync(await s.photo('dog-surf.png', '#20a0c0')));
  await modal.locator('.drop', { hasText: 'dog-surf.png' }).waitFor();
  await s.shot('09-refine-modal');
  await modal.getByRole('button', { name: 'Submit' }).click();
  await modal.waitFor({ state: 'detached' }).catch(() => undefined);
  await page.waitForFunction((n) => document.querySelectorAll('#messages .images img').length > n, beforeModal, { timeout: 60_000 });
  assert.equal(await page.locator('#modal').getAttribute('open'), null, 'the modal closed');

  // A reaction as on Discord: alice's 👍 is hers (pressed), and counted for everyone.
  await result.getByRole('button', { name: 'React 👍' }).click();
  await result.locator('.reaction.me', { hasText: '👍 1' }).waitFor();

  // Another member does not see alice's ephemeral answers.
  const ephemeralForAlice = await page.locator('#messages .message.ephemeral').count();
  await page.locator('#viewer').selectOption({ label: 'bob' });
  await page.waitForFunction(() => !document.querySelector('#messages .message.ephemeral') && document.querySelectorAll('#messages .message').length > 0);
  await s.shot('10-as-bob');
  assert.ok(ephemeralForAlice > 0, 'alice saw ephemeral answers in the thread');
  const thumbs = result.getByRole('button', { name: 'React 👍' });
  assert.equal(await thumbs.innerText(), '👍 1');
  assert.equal(await thumbs.getAttribute('aria-pressed'), 'false', "bob sees alice's reaction, not his own");

  assert.deepEqual(s.sandbox.emulator.violations(), []);
  assert.equal(await page.locator('#violations').isHidden(), true);
});
