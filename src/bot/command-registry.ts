import type { BotCommand } from './command.ts';

/** Slash commands by name. */
export class CommandRegistry {
  private readonly byName: Map<string, BotCommand>;

  constructor(commands: BotCommand[]) {
    this.byName = new Map(commands.map((c) => [c.data.name, c]));
    if (this.byName.size !== commands.length) throw new Error('two commands share a name');
  }

  get(name: string): BotCommand | undefined {
    return this.byName.get(name);
  }

  toJSON() {
    return [...this.byName.values()].map((c) => c.data.toJSON());
  }
}
