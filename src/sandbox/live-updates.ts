import type { IncomingMessage, Server } from 'node:http';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Emulator } from '../local-discord/driver.ts';
import { describeViolation } from '../local-discord/violations.ts';
import { visibleTo } from './visibility.ts';

const VIOLATION_POLL_MS = 500;

/**
 * The page's WebSocket (/ws?viewer=ID): each message, edit, deletion and thread as the local Discord
 * sees it, filtered to what that member may see, and every request Discord would refuse (also logged).
 */
export function startLiveUpdates(o: {
  server: Server;
  emulator: Emulator;
  logger: Logger;
  accept: (req: IncomingMessage) => boolean;
  /** What the sandbox adds to a message for a member (its reactions). */
  decorate: (message: { id: string }, viewer: string) => object;
}): { showMessage(channelId: string, message: { id: string; flags?: number }): void; close(): void } {
  const viewers = new Map<WebSocket, string>();
  const sockets = new WebSocketServer({ server: o.server, path: '/ws' });
  sockets.on('connection', (socket, req) => {
    if (!o.accept(req)) {
      socket.close(1008, 'only the sandbox page may connect');
      return;
    }
    viewers.set(socket, new URL(req.url ?? '', 'http://sandbox').searchParams.get('viewer') ?? '');
    // The page says which member it now shows: { "viewer": "<user id>" }.
    socket.on('message', (data) => {
      try {
        const msg = JSON.parse(data.toString()) as { viewer?: unknown };
        if (typeof msg.viewer === 'string') viewers.set(socket, msg.viewer);
      } catch {
        socket.close(1003, 'expected JSON');
      }
    });
    socket.on('close', () => viewers.delete(socket));
  });

  const push = (make: (viewer: string) => unknown) => {
    for (const [socket, viewer] of viewers) {
      const payload = make(viewer);
      if (payload) socket.send(JSON.stringify(payload));
    }
  };
  const showMessage = (channelId: string, message: { id: string; flags?: number }) =>
    push((viewer) => visibleTo(message, viewer) && { type: 'message', channelId, message: o.decorate(message, viewer) });
  const unsubscribe = o.emulator.onEvent((event) => {
    if (event.kind === 'message_create' || event.kind === 'message_update') {
      showMessage(event.channelId, event.message as { id: string; flags?: number });
    } else if (event.kind === 'message_delete') {
      push(() => ({ type: 'delete', channelId: event.channelId, messageId: event.messageId }));
    } else if (event.kind === 'thread_create') {
      push(() => ({ type: 'thread', thread: event.thread }));
    }
  });
  // Violations (and interactions left unanswered past 3 s) are found when asked; ask often.
  let reported = 0;
  const watch = setInterval(() => {
    const all = o.emulator.violations();
    for (const v of all.slice(reported)) {
      const text = describeViolation(v);
      o.logger.warn({ violation: v }, `Discord would refuse this: ${text}`);
      push(() => ({ type: 'violation', text }));
    }
    reported = all.length;
  }, VIOLATION_POLL_MS);

  return {
    showMessage,
    close() {
      clearInterval(watch);
      unsubscribe();
      for (const socket of viewers.keys()) socket.terminate();
      sockets.close();
    },
  };
}
