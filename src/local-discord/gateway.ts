import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { applicationFlags, applyMessageContentRule, PRIVILEGED_INTENTS, requiredIntent } from './intents.ts';
import type { JsonObject } from './state.ts';
import type { Violation } from './violations.ts';

const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;
const Close = {
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidShard: 4010,
  InvalidApiVersion: 4012,
  InvalidIntents: 4013,
  DisallowedIntents: 4014,
} as const;

/** What the gateway needs to know about the rest of the emulator. */
export interface GatewayHooks {
  token: string;
  applicationId: string;
  /** Privileged intents this application has been granted. */
  allowedPrivilegedIntents: number;
  heartbeatIntervalMs: number;
  botUser(): JsonObject;
  botUserId(): string;
  guildIds(): string[];
  guildCreate(guildId: string, intents: number): JsonObject;
  report(violation: Violation): void;
}

interface Session {
  id: string;
  intents: number;
  shard: [number, number];
  seq: number;
  /** Every dispatch sent (or queued while disconnected), for RESUME replay. */
  sent: { s: number; payload: string }[];
  socket: WebSocket | null;
}

/** Discord's gateway over `ws`, JSON encoding only: HELLO, heartbeats, IDENTIFY/READY, RESUME, dispatches. */
export class Gateway extends EventEmitter {
  private server?: WebSocketServer;
  private readonly sessions = new Map<string, Session>();
  url = '';

  constructor(private readonly hooks: GatewayHooks) {
    super();
  }

  async listen(): Promise<void> {
    this.server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(this.server, 'listening');
    this.url = `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.server.on('connection', (socket, request) => this.onConnection(socket, request));
  }

  /**
   * Sends an event to every session subscribed to it (by intent and shard), applying the MessageContent
   * rule. `data` may depend on the session's intents (GUILD_CREATE member lists do).
   */
  dispatch(event: string, data: JsonObject | ((intents: number) => JsonObject)): void {
    for (const session of this.sessions.values()) {
      const payload = typeof data === 'function' ? data(session.intents) : data;
      if (!this.wants(session, event, payload)) continue;
      this.send(session, event, applyMessageContentRule(event, payload, session.intents, this.hooks.botUserId()));
    }
  }

  /** Drops every connection with `code` (4000 = resumable) and resolves once the client is back. */
  async kick(code: number = Close.UnknownError): Promise<void> {
    const back = Promise.race([once(this, 'resumed'), once(this, 'ready')]);
    for (const session of this.sessions.values()) session.socket?.close(code, 'Kicked by test');
    await back;
  }

  connectedSessions(): number {
    return [...this.sessions.values()].filter((s) => s.socket).length;
  }

  async close(): Promise<void> {
    for (const client of this.server?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private wants(session: Session, event: string, data: JsonObject): boolean {
    const intent = requiredIntent(event, data);
    if (intent !== undefined && (session.intents & intent) === 0) return false;
    const guildId = typeof data.guild_id === 'string' ? data.guild_id : event === 'GUILD_CREATE' ? String(data.id) : undefined;
    return guildId === undefined ? session.shard[0] === 0 : shardOf(guildId, session.shard[1]) === session.shard[0];
  }

  private send(session: Session, event: string, data: unknown): void {
    session.seq += 1;
    const payload = JSON.stringify({ op: Op.Dispatch, t: event, s: session.seq, d: data });
    session.sent.push({ s: session.seq, payload });
    if (session.socket?.readyState === WebSocket.OPEN) session.socket.send(payload);
  }

  private onConnection(socket: WebSocket, request: IncomingMessage): void {
    const query = new URL(request.url ?? '/', this.url).searchParams;
    if (query.get('v') !== '10') return this.fail(socket, Close.InvalidApiVersion, `Gateway URL must ask for v=10, got ${query.get('v')}`);
    if ((query.get('encoding') ?? 'json') !== 'json' || query.has('compress')) {
      return this.fail(socket, Close.DecodeError, 'The emulator speaks encoding=json without compression');
    }
    socket.send(JSON.stringify({ op: Op.Hello, s: null, t: null, d: { heartbeat_interval: this.hooks.heartbeatIntervalMs } }));
    let session: Session | undefined;
    socket.on('message', (raw) => {
      const packet = parsePacket(raw.toString());
      if (!packet) return this.fail(socket, Close.DecodeError, 'Undecodable gateway payload');
      session = this.onPacket(socket, packet, session);
    });
    socket.on('close', (code) => {
      if (session?.socket !== socket) return;
      session.socket = null;
      // A client closing with 1000/1001 ends its session for good; other codes leave it resumable.
      if (code === 1000 || code === 1001) this.sessions.delete(session.id);
    });
  }

  private onPacket(socket: WebSocket, packet: { op: number; d: unknown }, session: Session | undefined): Session | undefined {
    switch (packet.op) {
      case Op.Heartbeat:
        socket.send(JSON.stringify({ op: Op.HeartbeatAck, s: null, t: null, d: null }));
        return session;
      case Op.Identify:
      case Op.Resume:
        if (!session) {
          return packet.op === Op.Identify ? this.identify(socket, packet.d as JsonObject) : this.resume(socket, packet.d as JsonObject);
        }
        this.fail(socket, Close.AlreadyAuthenticated, 'IDENTIFY or RESUME on an authenticated connection');
        return session;
      case Op.PresenceUpdate:
      case Op.VoiceStateUpdate:
      case Op.RequestGuildMembers:
        if (!session) this.fail(socket, Close.NotAuthenticated, `op ${packet.op} before IDENTIFY`);
        return session;
      default:
        this.fail(socket, Close.UnknownOpcode, `Unknown opcode ${packet.op}`);
        return session;
    }
  }

  private identify(socket: WebSocket, d: JsonObject): Session | undefined {
    if (d?.token !== this.hooks.token) return this.fail(socket, Close.AuthenticationFailed, 'IDENTIFY with a wrong token');
    if (typeof d.intents !== 'number') return this.fail(socket, Close.InvalidIntents, 'IDENTIFY without intents');
    const privileged = d.intents & PRIVILEGED_INTENTS & ~this.hooks.allowedPrivilegedIntents;
    if (privileged !== 0) return this.fail(socket, Close.DisallowedIntents, `Privileged intents not enabled for this app: ${privileged}`);
    const props = d.properties as JsonObject | undefined;
    if (!props?.os || !props.browser || !props.device) return this.fail(socket, Close.DecodeError, 'IDENTIFY properties need os, browser and device');
    const shard = (Array.isArray(d.shard) ? d.shard : [0, 1]) as [number, number];
    if (!(shard[1] >= 1 && shard[0] >= 0 && shard[0] < shard[1])) return this.fail(socket, Close.InvalidShard, `Invalid shard ${JSON.stringify(shard)}`);
    const session: Session = { id: randomBytes(16).toString('hex'), intents: d.intents, shard, seq: 0, sent: [], socket };
    this.sessions.set(session.id, session);
    this.sendReady(session);
    return session;
  }

  private sendReady(session: Session): void {
    const guildIds = this.hooks.guildIds().filter((id) => shardOf(id, session.shard[1]) === session.shard[0]);
    this.send(session, 'READY', {
      v: 10,
      user: this.hooks.botUser(),
      guilds: guildIds.map((id) => ({ id, unavailable: true })),
      session_id: session.id,
      resume_gateway_url: `${this.url}/resume`,
      shard: session.shard,
      application: { id: this.hooks.applicationId, flags: applicationFlags(this.hooks.allowedPrivilegedIntents) },
      private_channels: [],
      presences: [],
      relationships: [],
      user_settings: {},
      geo_ordered_rtc_regions: [],
      guild_join_requests: [],
      _trace: ['["discord-emulator",{"micros":0}]'],
    });
    for (const id of guildIds) this.send(session, 'GUILD_CREATE', this.hooks.guildCreate(id, session.intents));
    this.emit('ready', session.id);
  }

  private resume(socket: WebSocket, d: JsonObject): Session | undefined {
    const session = this.sessions.get(String(d?.session_id));
    if (!session || d.token !== this.hooks.token || typeof d.seq !== 'number' || d.seq > session.seq) {
      socket.send(JSON.stringify({ op: Op.InvalidSession, s: null, t: null, d: false }));
      return undefined;
    }
    const previous = session.socket;
    session.socket = socket;
    previous?.terminate();
    for (const entry of session.sent) if (entry.s > (d.seq as number)) socket.send(entry.payload);
    this.send(session, 'RESUMED', null);
    this.emit('resumed', session.id);
    return session;
  }

  private fail(socket: WebSocket, code: number, message: string): undefined {
    this.hooks.report({ kind: 'gateway', route: 'gateway', status: 0, code, message, issues: [], at: Date.now() });
    socket.close(code, message.slice(0, 120));
    return undefined;
  }
}

function parsePacket(text: string): { op: number; d: unknown } | undefined {
  try {
    const packet = JSON.parse(text) as { op?: unknown; d?: unknown };
    return typeof packet.op === 'number' ? { op: packet.op, d: packet.d } : undefined;
  } catch {
    return undefined;
  }
}

/** Discord routes a guild to shard (guild_id >> 22) % shard_count. */
function shardOf(guildId: string, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}
