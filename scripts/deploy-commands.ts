import 'dotenv/config';
import { REST, Routes } from 'discord.js';
import { commands } from '../commands/index.ts';
import { CommandRegistry } from '../src/bot/command-registry.ts';
import { ConfigError, loadGatewayConfig } from '../src/app/config.ts';

/**
 * Registers the slash commands: to GUILD_ID when set (instant, for development), globally
 * otherwise. Run on deploy, not on every start (Discord allows 200 command creates a day).
 */
async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const body = new CommandRegistry(commands).toJSON();
  const rest = new REST(config.apiBase ? { api: config.apiBase } : {}).setToken(config.token);
  const route = config.guildId ? Routes.applicationGuildCommands(config.clientId, config.guildId) : Routes.applicationCommands(config.clientId);
  const result = (await rest.put(route, { body })) as unknown[];
  console.log(`registered ${result.length} commands ${config.guildId ? `in guild ${config.guildId}` : 'globally'}`);
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `deploy-commands: ${(err as Error).message}`);
  process.exit(1);
});
