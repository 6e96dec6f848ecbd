import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { REST, Routes } from 'discord.js';
import { startEmulator } from '../src/local-discord/driver.ts';

const TOKEN = 'emulated.bot-token.for-tests';
const CHANNEL = '1200000000000000002';

test('a request whose client goes away mid-body (a bot killed while uploading) is dropped: no message, no unhandled error, the next request is answered', { timeout: 20_000 }, async () => {
  const emu = await startEmulator({
    token: TOKEN,
    applicationId: '1100000000000000001',
    guilds: [{ id: '1200000000000000001', name: 'Pets', channels: [{ id: CHANNEL, name: 'art' }], members: [{ id: '1300000000000000001', username: 'alice' }] }],
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const { hostname, port } = new URL(emu.restBase);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = '{"content":"half of it';
    socket.write(`POST /api/v10/channels/${CHANNEL}/messages HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bot ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n${body}`);
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(unhandled, []);
    assert.deepEqual(emu.messages(CHANNEL), []);
    const sent = (await new REST({ api: emu.restBase }).setToken(TOKEN).post(Routes.channelMessages(CHANNEL), { body: { content: 'whole' } })) as { content: string };
    assert.equal(sent.content, 'whole');
    emu.assertNoViolations();
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await emu.close();
  }
});
