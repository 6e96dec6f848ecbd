import { REST, Routes } from 'discord.js';
import { commands } from '../../commands/index.ts';
import { CommandRegistry } from '../../src/bot/command-registry.ts';
import { startEmulator, type Emulator } from '../../src/local-discord/driver.ts';
import { ALICE, APP_ID, BOB, CAROL, CHANNEL_A, GUILD_A, TOKEN } from '../e2e/harness.ts';

/**
 * The local Discord for tests that run the bot as a process: one server, "Pets", with #art and the
 * members alice, bob, carol and `moreMembers`, the bot's commands registered there.
 */
export async function startPetsDiscord(moreMembers: { id: string; username: string }[] = []): Promise<Emulator> {
  const emu = await startEmulator({
    token: TOKEN,
    applicationId: APP_ID,
    heartbeatIntervalMs: 500,
    guilds: [
      {
        id: GUILD_A,
        name: 'Pets',
        channels: [{ id: CHANNEL_A, name: 'art' }],
        members: [{ id: ALICE, username: 'alice' }, { id: BOB, username: 'bob' }, { id: CAROL, username: 'carol' }, ...moreMembers],
      },
    ],
  });
  const rest = new REST({ api: emu.restBase }).setToken(TOKEN);
  await rest.put(Routes.applicationGuildCommands(APP_ID, GUILD_A), { body: new CommandRegistry(commands).toJSON() });
  return emu;
}

/**
 * The local Discord for tests that spread servers over shards: one server per entry, each with #art (its
 * `channelId`) and `members`, the bot's commands registered in each.
 */
export async function startGuildsDiscord(guilds: readonly { guildId: string; channelId: string }[], members: { id: string; username: string }[]): Promise<Emulator> {
  const emu = await startEmulator({
    token: TOKEN,
    applicationId: APP_ID,
    heartbeatIntervalMs: 500,
    guilds: guilds.map(({ guildId, channelId }) => ({ id: guildId, name: `guild ${guildId}`, channels: [{ id: channelId, name: 'art' }], members })),
  });
  const rest = new REST({ api: emu.restBase }).setToken(TOKEN);
  for (const { guildId } of guilds) await rest.put(Routes.applicationGuildCommands(APP_ID, guildId), { body: new CommandRegistry(commands).toJSON() });
  return emu;
}
