import { z } from 'zod';
import type { Store } from './open-store.ts';

const ConsentSchema = z.object({ version: z.literal(1), at: z.number() });
export type ConsentRecord = z.output<typeof ConsentSchema>;

/**
 * Who confirmed they have the right to use the photos they give the bot, and when: namespace
 * "consents", key the user id. Stores.forgetUser deletes the record with the rest of the user's data.
 */
export class ConsentStore {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async get(userId: string): Promise<ConsentRecord | undefined> {
    const parsed = ConsentSchema.safeParse(await this.store.ns('consents').get(userId));
    return parsed.success ? parsed.data : undefined;
  }

  async record(userId: string): Promise<ConsentRecord> {
    const record: ConsentRecord = { version: 1, at: this.now() };
    await this.store.ns('consents').set(userId, record);
    return record;
  }

  async remove(userId: string): Promise<boolean> {
    return this.store.ns('consents').delete(userId);
  }
}
