import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getServerSettings, updateServerSettings } from '../../src/store/server-settings.ts';
import { charCount } from '../../src/util/text-length.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, CAROL, CHANNEL_A, GUILD_A, buttonId, personalize, photo, startHarness, waitForThreadResult, type Harness } from './harness.ts';

// Carol has Manage Server in the first guild (the harness' members).
let h: Harness;
const EPHEMERAL = 64;
const CAT = '🐱';
const FAMILY = '👨‍👩‍👧';

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

function hasLoneSurrogate(text: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** The text inputs of a modal the bot opened, by custom id: their prefilled values. */
function modalValues(modal: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const o = node as { type?: number; custom_id?: string; value?: string; components?: unknown[]; component?: unknown };
    if (o.type === 4 && o.custom_id) out[o.custom_id] = o.value;
    o.components?.forEach(visit);
    visit(o.component);
  };
  visit(modal);
  return out;
}

test('Save subject prefills the job’s name cut to 32 characters as Discord counts them, never half an emoji', async () => {
  const cases = [
    { name: `a${CAT.repeat(40)}`, prefilled: `a${CAT.repeat(31)}` },
    { name: `${'a'.repeat(30)}${FAMILY}z`, prefilled: 'a'.repeat(30) },
  ];
  for (const { name, prefilled } of cases) {
    const since = h.emu.eventCursor();
    const image1 = h.emu.uploadAttachment(await photo('#705030'), 'pet.png', 'image/png', CHANNEL_A);
    await personalize(h, { userId: ALICE, options: { prompt: 'a portrait in a garden', name, image1 } });
    const { result } = await waitForThreadResult(h, since);
    const opened = h.emu.clickButton(result.id, buttonId(result, 'save'), ALICE);
    const value = modalValues(await opened.waitForModal(10_000)).name ?? '';
    assert.equal(hasLoneSurrogate(value), false, JSON.stringify(value));
    assert.ok(charCount(value) <= 32, `${charCount(value)} characters`);
    assert.equal(value, prefilled);
  }
  h.emu.assertNoViolations();
});

test('a subject saved from the modal with 32 emoji as its name (64 UTF-16 units) and a 300-emoji context is stored whole', async () => {
  const since = h.emu.eventCursor();
  const image1 = h.emu.uploadAttachment(await photo('#507030'), 'pet.png', 'image/png', CHANNEL_A);
  await personalize(h, { userId: ALICE, options: { prompt: 'a portrait on a hill', image1 } });
  const { result } = await waitForThreadResult(h, since);
  const opened = h.emu.clickButton(result.id, buttonId(result, 'save'), ALICE);
  const name = CAT.repeat(32);
  const context = CAT.repeat(300);
  const submitted = await h.emu.submitModal(opened, { name, context });
  // The first visible response is the edit of the deferred ephemeral reply.
  const reply = await submitted.waitForReply(15_000);
  assert.match(reply.content, /^Saved as “🐱+”/u, reply.content);
  const saved = (await h.deps.stores.subjects.list(ALICE, GUILD_A)).find((s) => s.name === name);
  assert.ok(saved, 'stored under the whole name');
  assert.equal(saved.context, context);
  h.emu.assertNoViolations();
});

test('/settings blocklist action:clear with a long list answers within 2000 characters, says how many it left out, and the list is empty', async () => {
  const phrases = Array.from({ length: 100 }, (_, i) => `${CAT.repeat(40)} phrase number ${i} ${'x'.repeat(30)}`);
  await updateServerSettings(h.deps.stores, GUILD_A, () => ({ blockedPhrases: phrases }));
  const show = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: 'show' });
  const shown = await show.waitForReply(15_000);
  assert.ok(charCount(shown.content) <= 2000);
  assert.match(shown.content, /…and \d+ more\./);

  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'settings', subcommand: 'blocklist', options: { action: 'clear' } });
  const reply = await run.waitForReply(15_000);
  assert.equal((reply.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.doesNotMatch(reply.content, /went wrong/);
  assert.ok(charCount(reply.content) <= 2000, `${charCount(reply.content)} characters`);
  assert.match(reply.content, /^Saved:\n• Blocked phrases: removed “.+ and \d+ more \(list now empty\)$/s);
  assert.deepEqual((await getServerSettings(h.deps.stores, GUILD_A)).blockedPhrases, []);
  h.emu.assertNoViolations();
});
