import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionPerFile, skipReason } from './session.ts';

// A newcomer's first ten minutes in the sandbox, in a real browser, with a screenshot of each step:
// the first screen, /personalize with photos, /queue, the reasoning, a refinement by a reply, and
// /settings hidden from a member who may not manage the server.
const s = sessionPerFile('first-ten-minutes');

test('first screen, /personalize with photos, /queue, the reasoning, a refinement by reply, /settings hidden for bob', { skip: skipReason, timeout: 240_000 }, async () => {
  const { page } = s;

  // 1. The first screen says what to do.
  const guide = page.locator('#guide');
  await guide.waitFor();
  assert.match(await guide.innerText(), /Press \/personalize below[^]*Reply in the thread[^]*\/queue/);
  await s.shot('01-first-screen');

  // 2. /personalize with two photos.
  await page.getByRole('button', { name: '/personalize' }).click();
  await page.locator('#opt-prompt').fill('my dog wearing a space suit on the moon');
  await page.locator('#opt-image1').setInputFiles(await s.photo('dog-front.png', '#a05020'));
  await page.locator('[data-option="image1"]', { hasText: 'KiB' }).waitFor();
  await page.locator('#opt-image2').setInputFiles(await s.photo('dog-side.png', '#306090'));
  await page.locator('[data-option="image2"]', { hasText: 'KiB' }).waitFor();
  await page.locator('#opt-trace').selectOption('true');
  await s.shot('02-personalize-form');
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const status = page.locator('#messages .message', { hasText: 'alice used /personalize' });
  await status.waitFor({ timeout: 30_000 });
  assert.equal(await guide.isVisible(), false, 'the guide gives way to the conversation');
  // The job's record learns where its status is before the first progress edit shows.
  await status.filter({ hasText: /Reading your photos|In the queue|Drawing|Working on it|Scoring|Done/ }).waitFor({ timeout: 60_000 });

  // 3. /queue, while the job is in line or being drawn: named by its prompt, with a link to its status.
  await page.getByRole('button', { name: '/queue' }).click();
  await page.locator('#command-form').getByRole('button', { name: 'Send' }).click();
  const queue = page.locator('#messages .message.ephemeral', { hasText: 'Drawing now' }).last();
  await queue.waitFor({ timeout: 30_000 });
  const queueText = await queue.innerText();
  if (/Your images/.test(queueText)) {
    assert.match(queueText, /“my dog wearing a space suit on the moon” \(status: #general › message\) is (being drawn|number \d+ in line)/);
    assert.equal(await queue.locator('.message-link').count(), 1, 'the status link is a chip');
  } else {
    assert.match(queueText, /You have nothing in the queue/, 'the job finished before /queue answered');
  }
  assert.doesNotMatch(queueText, /<t:|`[\w-]{12}`/, 'no raw timestamps or job ids');
  await s.shot('03-queue');

  // The status ends pointing at the thread; the thread holds the image, its buttons and the reasoning.
  await page.locator('#messages .message', { hasText: 'Done: your image is in the thread' }).waitFor({ timeout: 90_000 });
  const threadButton = page.locator('#channels ul button').first();
  await threadButton.waitFor({ timeout: 30_000 });
  await threadButton.click();
  const result = page.locator('#messages .message', { has: page.locator('.images img') }).first();
  await result.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => ((document.querySelector('#messages .images img') as HTMLImageElement | null)?.naturalWidth ?? 0) > 0);

  // 4. The reasoning: trace posted it with the image (random words from the test model, labelled so),
  // and Show reasoning shows it again to the one who asks.
  const traced = result.locator('.embed');
  assert.equal(await traced.locator('.embed-title').innerText(), 'How I see your subject');
  const reasoningText = (await traced.locator('.embed-description').innerText()).trim();
  assert.match(reasoningText, /\p{L}{3}/u, `the reasoning has words: ${JSON.stringify(reasoningText)}`);
  assert.match(await result.locator('.fixture-note').innerText(), /random-weight test model: its images and reasoning are noise/i);
  await s.shot('04-result-with-reasoning');
  await result.getByRole('button', { name: 'Show reasoning' }).click();
  const shown = page.locator('#messages .message.ephemeral', { has: page.locator('.embed') }).last();
  await shown.waitFor({ timeout: 30_000 });
  assert.equal((await shown.locator('.embed-description').innerText()).trim(), reasoningText);
  await s.shot('05-show-reasoning');

  // 5. A refinement by reply edits the request: the subject and scene stay, and the bot says what it did.
  const before = await page.locator('#messages .images img').count();
  await page.locator('#composer-text').fill('now make him wear sunglasses');
  await page.locator('#composer').getByRole('button', { name: 'Send' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('#messages .images img').length > n, before, { timeout: 90_000 });
  const refined = page.locator('#messages .message', { has: page.locator('.images img') }).last();
  assert.match(await refined.locator('.content strong').innerText(), /^my dog wearing a space suit on the moon, wearing sunglasses$/);
  const said = page.locator('#messages .message', { hasText: 'Refined: added “wearing sunglasses”' });
  await said.filter({ hasText: /^[^]*Done\. Refined/ }).waitFor({ timeout: 30_000 });
  assert.match(await said.last().innerText(), /Done\. Refined: added “wearing sunglasses”\. Drew my dog wearing a space suit on the moon, wearing sunglasses; the new image is below\./);
  assert.equal(await page.locator('#messages .message', { hasText: /Done: https?:/ }).count(), 0, 'no raw "Done: <link>" line in the thread');
  await s.shot('06-refined-by-reply');

  // The Refine button's modal opens with the request as it stands now.
  await refined.getByRole('button', { name: 'Refine' }).click();
  const modal = page.locator('#modal[open]');
  await modal.waitFor();
  assert.equal(await modal.locator('textarea').inputValue(), 'my dog wearing a space suit on the moon, wearing sunglasses');
  await s.shot('07-refine-modal-prefilled');
  await modal.getByRole('button', { name: 'Cancel' }).click();

  // 6. bob may not manage the server: Discord lists no /settings for him.
  await page.locator('#viewer').selectOption({ label: 'bob' });
  await page.waitForFunction(() => {
    const names = [...document.querySelectorAll('#command-buttons button')].map((b) => b.textContent);
    return names.includes('/personalize') && !names.includes('/settings');
  });
  await s.shot('08-bob-has-no-settings');
  await page.locator('#viewer').selectOption({ label: 'alice' });
  await page.locator('#command-buttons').getByRole('button', { name: '/settings' }).waitFor();

  assert.deepEqual(s.sandbox.emulator.violations(), []);
});
