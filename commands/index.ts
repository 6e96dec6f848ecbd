import type { BotCommand } from '../src/bot/command.ts';
import { personalize } from './personalize.ts';
import { queue } from './queue.ts';
import { settings } from './settings.ts';
import { subject } from './subject.ts';

/** Every slash command the bot has; deploy-commands registers exactly these. */
export const commands: BotCommand[] = [personalize, queue, settings, subject];
