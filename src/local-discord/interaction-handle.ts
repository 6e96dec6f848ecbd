import type { APIInteraction, APIMessage } from 'discord.js';
import { once } from 'node:events';
import type { InteractionRecord } from './interactions.ts';
import type { JsonObject } from './state.ts';

/** Choice objects the bot answered an autocomplete with. */
export interface AutocompleteChoice {
  name: string;
  value: string | number;
}

/** A dispatched interaction, from the test's side: what the bot answered and when. */
export class InteractionHandle {
  private readonly replies: JsonObject[] = [];
  private readonly followUps: JsonObject[] = [];

  constructor(readonly record: InteractionRecord) {
    record.signals.on('reply', (message: JsonObject) => this.replies.push(message));
    record.signals.on('followup', (message: JsonObject) => this.followUps.push(message));
  }

  get id(): string {
    return this.record.id;
  }

  get token(): string {
    return this.record.token;
  }

  /** The INTERACTION_CREATE payload as sent to the bot. */
  get interaction(): APIInteraction {
    return this.record.payload as unknown as APIInteraction;
  }

  /** The initial callback type (4 reply, 5 defer, 6 deferUpdate, 7 update, 8 choices, 9 modal), if any yet. */
  get callbackType(): number | undefined {
    return this.record.callbackType;
  }

  async waitForAck(timeoutMs = 5000): Promise<number> {
    if (this.record.callbackType === undefined) await this.signal('callback', timeoutMs);
    return this.record.callbackType!;
  }

  /** The first visible response: a reply, an update of the clicked message, or the edit after a defer. */
  async waitForReply(timeoutMs = 5000): Promise<APIMessage> {
    if (this.replies.length === 0) await this.signal('reply', timeoutMs);
    return this.replies[0] as unknown as APIMessage;
  }

  /** The latest state of the response after more edits (waits for one if there is none yet). */
  async waitForReplyCount(count: number, timeoutMs = 5000): Promise<APIMessage> {
    while (this.replies.length < count) await this.signal('reply', timeoutMs);
    return this.replies[count - 1] as unknown as APIMessage;
  }

  async waitForFollowUp(index = 0, timeoutMs = 5000): Promise<APIMessage> {
    while (this.followUps.length <= index) await this.signal('followup', timeoutMs);
    return this.followUps[index] as unknown as APIMessage;
  }

  async waitForModal(timeoutMs = 5000): Promise<JsonObject> {
    await this.waitForAck(timeoutMs);
    if (!this.record.modal) throw new Error(`Interaction was answered with callback type ${this.record.callbackType}, not a modal`);
    return this.record.modal;
  }

  async waitForChoices(timeoutMs = 5000): Promise<AutocompleteChoice[]> {
    await this.waitForAck(timeoutMs);
    return (this.record.choices ?? []) as unknown as AutocompleteChoice[];
  }

  private async signal(name: string, timeoutMs: number): Promise<void> {
    try {
      await once(this.record.signals, name, { signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      throw new Error(`Interaction ${this.id}: no ${name} within ${timeoutMs} ms`);
    }
  }
}
