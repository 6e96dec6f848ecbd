/**
 * Handlers still at work. A job's result is posted after the queue is done with it, so shutdown waits
 * for these too, or it would cut off results and "cancelled" notices half-sent.
 */
export class InFlight {
  readonly #tasks = new Set<Promise<unknown>>();

  track(task: Promise<unknown>): void {
    const tracked = task.catch(() => {}).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }

  get size(): number {
    return this.#tasks.size;
  }

  /** Resolves once every task has settled (including ones started meanwhile), or after timeoutMs. */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#tasks.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
      await Promise.race([Promise.all(this.#tasks), timeout]);
      clearTimeout(timer);
    }
  }
}
