import { DiscordHttpError } from './errors.ts';

/** A server-side failure a test asks for: matching requests get a Discord-shaped 5xx instead of an answer. */
export interface RequestFault {
  /** HTTP method; any when omitted. */
  method?: string;
  /** Tested against the path after /api/v10, e.g. /^\/channels\/\d+\/messages$/. */
  route: RegExp;
  status: 500 | 502 | 503 | 504;
  /** How many matching requests fail (default 1; Infinity until stop()). */
  times?: number;
  /** Only requests that upload files (multipart bodies) fail, as large uploads do behind a failing proxy. */
  onlyWithFiles?: boolean;
}

export interface FaultHandle {
  /** Requests this fault has failed so far. */
  readonly hits: number;
  stop(): void;
}

const STATUS_TEXT: Record<RequestFault['status'], string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Injected 5xx answers; the REST server asks take() before routing, so no state changes on a failed request. */
export class RequestFaults {
  private readonly active: { fault: RequestFault; left: number; hits: number }[] = [];

  add(fault: RequestFault): FaultHandle {
    const entry = { fault, left: fault.times ?? 1, hits: 0 };
    this.active.push(entry);
    const stop = () => {
      const i = this.active.indexOf(entry);
      if (i >= 0) this.active.splice(i, 1);
    };
    return {
      get hits() {
        return entry.hits;
      },
      stop,
    };
  }

  clear(): void {
    this.active.length = 0;
  }

  take(method: string, path: string, withFiles: boolean): DiscordHttpError | undefined {
    const entry = this.active.find(
      ({ fault, left }) =>
        left > 0 &&
        (!fault.method || fault.method.toUpperCase() === method) &&
        fault.route.test(path) &&
        (!fault.onlyWithFiles || withFiles),
    );
    if (!entry) return undefined;
    entry.left -= 1;
    entry.hits += 1;
    const { status } = entry.fault;
    return new DiscordHttpError(status, 0, `${status}: ${STATUS_TEXT[status]}`, 'emulator');
  }
}
