import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SANDBOX_CHANNELS, SANDBOX_TOKEN } from '../../src/sandbox/world.ts';
import { sessionPerFile, skipReason } from './session.ts';

// The local Discord keeps its schema and limit checks on in the sandbox: a request real Discord
// would refuse shows in the page as it happens.
const s = sessionPerFile('violations');

test('a message over Discord\'s 2000-character limit, sent with the bot\'s token, shows as a violation in the page', { skip: skipReason, timeout: 60_000 }, async () => {
  const { page } = s;
  assert.equal(await page.locator('#violations').isHidden(), true);
  const res = await fetch(`${s.sandbox.emulator.restBase}/v10/channels/${SANDBOX_CHANNELS[0].id}/messages`, {
    method: 'POST',
    headers: { authorization: `Bot ${SANDBOX_TOKEN}`, 'content-type': 'application/json', 'user-agent': 'DiscordBot (https://github.com/discordjs/discord.js, 14.0.0)' },
    body: JSON.stringify({ content: 'x'.repeat(2001) }),
  });
  assert.equal(res.status, 400);
  const shown = page.locator('#violation-list li').first();
  await shown.waitFor({ timeout: 5_000 });
  assert.match(await shown.innerText(), /POST \/channels\/:channel_id\/messages -> 400/);
  assert.match(await shown.innerText(), /content/);
  await s.shot('01-violation');
  assert.equal(s.sandbox.emulator.violations().length, 1);
});
