/**
 * Edits of one status, coalesced and spaced at least `intervalMs` apart, so a busy queue never floods
 * Discord's rate limits: requests made while one is pending are answered by that one `send`; stop()
 * drops what is pending and refuses the rest.
 */
export class SpacedEdits {
  #last = 0;
  #pending: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly send: () => void,
    private readonly intervalMs: number,
  ) {}

  /** An edit sent now by other means: the next one waits its interval from here. */
  sentNow(): void {
    this.#last = Date.now();
  }

  request(): void {
    if (this.#stopped || this.#pending) return;
    const wait = Math.max(0, this.#last + this.intervalMs - Date.now());
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      if (this.#stopped) return;
      this.#last = Date.now();
      this.send();
    }, wait);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#pending);
  }
}
