import assert from 'node:assert/strict';
import type { Emulator } from '../../src/local-discord/driver.ts';

/**
 * Resolves once a bot process answers interactions in every place: a /queue probe in each until one is
 * answered. A probe sent before the bot's gateway session is up is never acknowledged, which the emulator
 * records as a violation 3 s later; each probe waits past that mark, so once all are answered the
 * violations on record are the probes' own, and any other fails here.
 */
export async function waitUntilAnswering(emu: Emulator, places: readonly { guildId: string; channelId: string }[], userId: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (const { guildId, channelId } of places) {
    for (;;) {
      if (Date.now() > end) throw new Error(`the bot did not answer in guild ${guildId} within ${timeoutMs / 1000} s`);
      try {
        await emu.runSlashCommand({ guildId, channelId, userId, name: 'queue', options: {} }).waitForReply(3500);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  const others = emu.violations().filter((v) => !/\(queue\) was never acknowledged/.test(v.message));
  assert.deepEqual(others, [], 'violations while the bot connected');
  emu.clearViolations();
}
