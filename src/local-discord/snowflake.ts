import type { Clock } from './clock.ts';

const DISCORD_EPOCH = 1420070400000n;

/** Discord-style snowflakes: timestamp in the high bits, so ids sort by creation time. */
export class SnowflakeFactory {
  private increment = 0n;

  constructor(private readonly clock: Clock) {}

  next(): string {
    this.increment = (this.increment + 1n) & 0xfffn;
    const ms = BigInt(this.clock.now()) - DISCORD_EPOCH;
    return ((ms << 22n) | (1n << 17n) | this.increment).toString();
  }
}

export function snowflakeTime(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}
