import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CHANNEL_A, GUILD_A, photo, startHarness, waitForThreadResult, type Harness } from '../e2e/harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function subject(userId: string, sub: string, options: Record<string, OptionValue> = {}): Promise<APIMessage> {
  const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'subject', subcommand: sub, options });
  return run.waitForReply(15_000);
}

test('a /personalize prompt with a header, a masked link and a timestamp is echoed escaped in the result message; the thread name stays plain', async () => {
  const prompt = '# big [Claim your free Nitro](https://evil.example/login) <t:1700000000:R>';
  const image = h.emu.uploadAttachment(await photo('#a05020'), 'dog.png', 'image/png', CHANNEL_A);
  const since = h.emu.eventCursor();
  const run = h.emu.runSlashCommand({
    guildId: GUILD_A,
    channelId: CHANNEL_A,
    userId: ALICE,
    name: 'personalize',
    options: { prompt, image1: image, name: '**Rex**', seed: 7 },
  });
  assert.equal(await run.waitForAck(), 5);
  const { threadId, result } = await waitForThreadResult(h, since);
  const [header] = result.content.split('\n');
  assert.equal(header, '**\\*\\*Rex\\*\\*: \\# big \\[Claim your free Nitro](https://evil.example/login) \\<t:1700000000:R>**');
  assert.doesNotMatch(result.content, /(^|[^\\])\[Claim/, 'no masked link can start');
  const thread = await h.emu.waitFor((e) => e.kind === 'thread_create' && String(e.thread.id) === threadId, 5_000, since);
  assert.ok(thread.kind === 'thread_create');
  assert.equal(thread.thread.name, prompt, 'thread names are plain text: not escaped');
  h.emu.assertNoViolations();
});

test("a shared subject named with a masked link shows escaped in another member's /subject list, plain in autocomplete", async () => {
  const name = '[Free Nitro](https://evil.ex)';
  const saved = await subject(ALICE, 'save', { name, image1: h.emu.uploadAttachment(await photo('#305080'), 'cat.png', 'image/png', CHANNEL_A) });
  assert.match(saved.content, /^Saved \*\*\\\[Free Nitro\]\(https:\/\/evil\.ex\)\*\* with 1 photo/);
  const [stored] = await h.deps.stores.subjects.list(ALICE, GUILD_A);
  assert.equal(stored.name, name, 'stored as typed, escaped only when shown');
  assert.match((await subject(ALICE, 'share', { name: stored.id })).content, /^\*\*\\\[Free Nitro\]/);

  const bobList = await subject(BOB, 'list');
  assert.ok(bobList.content.includes(`• **\\[Free Nitro](https://evil.ex)** by <@${ALICE}>: 1 photo`), bobList.content);
  assert.doesNotMatch(bobList.content, /(^|[^\\])\[Free Nitro\]/);

  const choices = await h.emu.autocomplete({ guildId: GUILD_A, channelId: CHANNEL_A, userId: BOB, name: 'subject', subcommand: 'show', options: { name: 'free' }, focused: 'name' });
  assert.deepEqual(choices.map((c) => c.value), [stored.id]);
  assert.ok(choices[0].name.startsWith(name), `autocomplete choices are plain text: ${choices[0].name}`);
  assert.ok(choices[0].name.length <= 100);
  h.emu.assertNoViolations();
});
