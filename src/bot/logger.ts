import pino, { type Logger } from 'pino';

/** Structured logs; anything that looks like a secret is replaced before it is written. */
export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['token', '*.token', 'config.token', 'headers.authorization', '*.headers.authorization', 'DISCORD_TOKEN'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type { Logger };
