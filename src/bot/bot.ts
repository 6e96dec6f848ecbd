import { Client, Events, GatewayIntentBits, MessageFlags, Partials, type ClientOptions, type Interaction } from 'discord.js';
import type { BotCommand } from './command.ts';
import { postingStopper } from './delivery/deliveries-in-progress.ts';
import { CommandRegistry } from './command-registry.ts';
import { routeComponent } from './components/route-component.ts';
import { InFlight } from './in-flight.ts';
import { handleReaction } from './reaction-feedback.ts';
import { recoverJobs } from './restart-recovery.ts';
import { userMessage } from './reply-errors.ts';
import type { BotDeps } from './bot-deps.ts';
import { handleThreadMessage } from './thread-refinement.ts';

export interface Bot {
  client: Client;
  /**
   * Stop taking work, tell users whose jobs were waiting, let running jobs finish (or stop them after
   * waitMs), wait for their results to be posted, disconnect.
   */
  stop(waitMs?: number): Promise<void>;
}

/** After the queue is drained: how long results and notices may take to be posted. */
const HANDLER_GRACE_MS = 15_000;

/**
 * The discord.js client wired to the slash commands it is given (the entry points pass the full list),
 * our buttons and thread replies.
 */
export function createBot(deps: BotDeps, commands: BotCommand[], clientOptions: Partial<ClientOptions> = {}): Bot {
  const registry = new CommandRegistry(commands);
  // Reactions (👍/👎 feedback on results) arrive for messages the client never cached: hence the partials.
  const intents = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.GuildMessageReactions];
  if (deps.messageContent) intents.push(GatewayIntentBits.MessageContent);
  const client = new Client({ intents, partials: [Partials.Channel, Partials.Message, Partials.Reaction, Partials.User], ...clientOptions });
  const { logger } = deps;
  let stopping = false;
  const inFlight = new InFlight();
  // Forget-me, run here or on another gateway, stops this process's postings of the user.
  deps.forgetReach.serve(postingStopper);

  client.on(Events.InteractionCreate, (interaction) => {
    if (stopping && interaction.isRepliable()) {
      interaction.reply({ content: 'The bot is restarting; try again in a minute.', flags: MessageFlags.Ephemeral }).catch(() => {});
      return;
    }
    inFlight.track(route(interaction).catch((err) => logger.error({ err }, 'interaction handler failed')));
  });
  client.on(Events.MessageCreate, (message) => {
    if (stopping) return;
    inFlight.track(handleThreadMessage(message, deps).catch((err) => logger.error({ err }, 'thread message handler failed')));
  });
  client.on(Events.MessageReactionAdd, (reaction, user) => {
    if (!stopping) inFlight.track(handleReaction(reaction, user, true, deps));
  });
  client.on(Events.MessageReactionRemove, (reaction, user) => {
    if (!stopping) inFlight.track(handleReaction(reaction, user, false, deps));
  });
  client.on(Events.Error, (err) => logger.error({ err }, 'discord client error'));
  client.once(Events.ClientReady, (c) => {
    logger.info({ user: c.user.tag, guilds: c.guilds.cache.size }, 'connected to Discord');
    inFlight.track(recoverJobs(deps, c, (work) => inFlight.track(work)).catch((err) => logger.error({ err }, 'restart recovery failed')));
  });

  async function route(interaction: Interaction): Promise<void> {
    if (interaction.isChatInputCommand()) {
      const command = registry.get(interaction.commandName);
      if (!command) return;
      try {
        await command.execute(interaction, deps);
      } catch (err) {
        const content = userMessage(err, logger, { command: interaction.commandName });
        if (interaction.deferred || interaction.replied) await interaction.editReply({ content, components: [] }).catch(() => {});
        else await interaction.reply({ content, flags: MessageFlags.Ephemeral }).catch(() => {});
      }
    } else if (interaction.isAutocomplete()) {
      const command = registry.get(interaction.commandName);
      await command?.autocomplete?.(interaction, deps).catch(async (err) => {
        logger.warn({ err }, 'autocomplete failed');
        await interaction.respond([]).catch(() => {});
      });
    } else if (interaction.isButton() || interaction.isStringSelectMenu() || interaction.isModalSubmit()) {
      await routeComponent(interaction, deps);
    } else if (interaction.isRepliable()) {
      // Another kind of menu: none of ours.
      await interaction.reply({ content: 'That menu is not one of this bot’s.', flags: MessageFlags.Ephemeral }).catch(() => {});
    }
  }

  return {
    client,
    async stop(waitMs = 30_000) {
      stopping = true;
      const result = await deps.queue.drain({ waitMs, message: 'The bot is restarting; your image was cancelled. Please send it again in a minute.' });
      logger.info(result, 'queue drained');
      await inFlight.settled(HANDLER_GRACE_MS);
      if (inFlight.size > 0) logger.warn({ handlers: inFlight.size }, 'disconnecting with handlers still at work');
      await client.destroy();
    },
  };
}
