/** Time source for everything the emulator judges by time (interaction deadlines, URL expiry). */
export interface Clock {
  now(): number;
}

/** Real time plus an offset that tests can push forward to skip deadlines without waiting. */
export class TestClock implements Clock {
  private offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }
}
