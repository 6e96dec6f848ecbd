import type { APIApplicationCommand, APIAttachment, APIChannel, APIMessage } from 'discord.js';
import { CdnServer, DEFAULT_URL_TTL_MS, UrlSigner } from './cdn.ts';
import { TestClock } from './clock.ts';
import type { EmulatorCore } from './core.ts';
import type { ChannelSeed, EmulatorOptions, GuildSeed } from './emulator-options.ts';
import { EventLog, type EmulatorEvent } from './events.ts';
import { Gateway } from './gateway.ts';
import type { AutocompleteChoice, InteractionHandle } from './interaction-handle.ts';
import { InteractionPayloads } from './interaction-payloads.ts';
import { InteractionService } from './interactions.ts';
import { Intent, PRIVILEGED_INTENTS } from './intents.ts';
import { MessageService } from './messages.ts';
import type { ModalValue } from './modal-submit.ts';
import { Renderer } from './payloads.ts';
import { maySeeCommand } from './permissions.ts';
import { RateLimiter, type ForcedRateLimit } from './rate-limit.ts';
import { ReactionService } from './reactions.ts';
import { appRoutes } from './routes-app.ts';
import { channelRoutes } from './routes-channels.ts';
import { guildRoutes } from './routes-guilds.ts';
import { interactionRoutes } from './routes-interactions.ts';
import type { DownloadFault } from './download-faults.ts';
import { RequestFaults, type FaultHandle, type RequestFault } from './request-faults.ts';
import { RestServer } from './server.ts';
import { SnowflakeFactory } from './snowflake.ts';
import { EmulatorState, type JsonObject, type MemberOptions } from './state.ts';
import { fileRecord } from './uploads.ts';
import { UserActions, type AutocompleteInput, type SlashCommandInput } from './user-actions.ts';
import { ViolationLog, type Violation } from './violations.ts';

const json = <T>(value: JsonObject): T => value as unknown as T;

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const emulator = new Emulator(options);
  await emulator.listen();
  for (const seed of options.guilds ?? []) emulator.addGuild(seed);
  return emulator;
}

/** The test-facing side of the emulated Discord: set up the world, act as users, inspect what the bot did. */
export class Emulator {
  readonly clock: TestClock;
  private readonly violationLog = new ViolationLog();
  private readonly events = new EventLog();
  private readonly state: EmulatorState;
  private readonly core: EmulatorCore;
  private readonly payloads: InteractionPayloads;
  private readonly limiter: RateLimiter;
  private readonly rest: RestServer;
  private readonly faults = new RequestFaults();
  private readonly reactions: ReactionService;
  private readonly users: UserActions;

  constructor(options: EmulatorOptions) {
    this.clock = options.clock ?? new TestClock();
    const report = (v: Violation) => this.violationLog.record(v);
    const ids = new SnowflakeFactory(this.clock);
    const botUserId = options.botUserId ?? options.applicationId;
    this.state = new EmulatorState(ids, this.clock, options.applicationId, botUserId, options.botUsername ?? 'emulated-bot');
    const appOwner = this.state.ensureUser(ids.next(), 'app-owner');
    const cdn = new CdnServer(this.state, new UrlSigner(this.clock, options.attachmentUrlTtlMs ?? DEFAULT_URL_TTL_MS), report);
    const renderer = new Renderer(this.state, cdn);
    const allowedPrivilegedIntents = options.allowedPrivilegedIntents ?? PRIVILEGED_INTENTS;
    const gateway = new Gateway({
      token: options.token,
      applicationId: options.applicationId,
      allowedPrivilegedIntents,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
      botUser: () => renderer.user(this.state.user(botUserId)),
      botUserId: () => botUserId,
      guildIds: () => [...this.state.guilds.keys()],
      guildCreate: (id, intents) => renderer.guildCreate(this.state.guild(id), (intents & Intent.GuildMembers) !== 0),
      report,
    });
    const messages = new MessageService(this.state, renderer, gateway, this.events);
    const interactions = new InteractionService(this.state, this.clock, renderer, messages, this.events);
    this.core = {
      state: this.state, clock: this.clock, renderer, messages, interactions, gateway, events: this.events, cdn,
      token: options.token, appOwnerId: appOwner.id, allowedPrivilegedIntents,
      dailyCommandCreateLimit: options.dailyCommandCreateLimit ?? 200,
    };
    this.payloads = new InteractionPayloads(this.state, renderer);
    this.reactions = new ReactionService(this.core);
    this.users = new UserActions(this.core, this.payloads);
    this.limiter = new RateLimiter(options.rateLimit?.limit, options.rateLimit?.windowMs);
    gateway.on('ready', () => this.limiter.newClient());
    const routes = [appRoutes, channelRoutes, guildRoutes, interactionRoutes].flatMap((build) => build(this.core));
    this.rest = new RestServer(routes, options.token, this.limiter, report, this.faults);
  }

  async listen(): Promise<void> {
    await Promise.all([this.rest.listen(), this.core.gateway.listen(), this.core.cdn.listen()]);
  }

  /** Pass as `new Client({ rest: { api: emulator.restBase } })`. */
  get restBase(): string {
    return this.rest.base;
  }

  get gatewayUrl(): string {
    return this.core.gateway.url;
  }

  /** Origin of attachment URLs (the host a bot must trust for downloads). */
  get cdnBase(): string {
    return this.core.cdn.base;
  }

  get botUserId(): string {
    return this.state.botUserId;
  }

  // ---- world setup -------------------------------------------------------------------------

  addGuild(seed: GuildSeed = {}): { id: string; channelIds: string[] } {
    const guild = this.state.createGuild(seed);
    const channelIds = (seed.channels ?? [{ name: 'general' }]).map((c) => this.state.createChannel(guild.id, c).id);
    for (const member of seed.members ?? []) this.state.addMember(guild.id, member.id, member);
    this.core.gateway.dispatch('GUILD_CREATE', (intents) => this.core.renderer.guildCreate(guild, (intents & Intent.GuildMembers) !== 0));
    return { id: guild.id, channelIds };
  }

  addChannel(guildId: string, seed: ChannelSeed = {}): APIChannel {
    const channel = this.core.renderer.channel(this.state.createChannel(guildId, seed));
    this.core.gateway.dispatch('CHANNEL_CREATE', channel);
    return json<APIChannel>(channel);
  }

  addMember(guildId: string, userId: string, options: MemberOptions = {}): void {
    const member = this.state.addMember(guildId, userId, options);
    this.core.gateway.dispatch('GUILD_MEMBER_ADD', { ...this.core.renderer.member(member), guild_id: guildId });
  }

  setAttachmentSizeLimit(guildId: string, bytes: number): void {
    this.state.guild(guildId).attachmentSizeLimit = bytes;
  }

  /**
   * A file as a user would attach it to a command, modal or message: an ephemeral attachment whose
   * signed URL is on the emulated CDN (`channelId` only appears in that URL).
   */
  uploadAttachment(bytes: Buffer | Uint8Array, filename: string, contentType?: string, channelId = '0'): APIAttachment {
    const file = fileRecord(this.state, channelId, Buffer.from(bytes), filename, contentType, true);
    return json<APIAttachment>(this.core.renderer.attachment(file));
  }

  /**
   * Frees an upload that no message took (a client's upload that expired unused): its bytes leave the
   * CDN. Files that messages carry are separate records and stay.
   */
  discardUpload(id: string): boolean {
    const file = this.state.files.get(id);
    if (!file?.ephemeral || [...this.state.messages.values()].some((m) => m.attachmentIds.includes(id))) return false;
    return this.state.files.delete(id);
  }

  /**
   * Like uploadAttachment, but the attachment's URL points at `url` (a host that is not Discord's CDN),
   * as a modified client or a forged payload could send.
   */
  externalAttachment(url: string, bytes: Buffer | Uint8Array, filename: string, contentType?: string): APIAttachment {
    const file = fileRecord(this.state, '0', Buffer.from(bytes), filename, contentType, true);
    file.externalUrl = url;
    return json<APIAttachment>(this.core.renderer.attachment(file));
  }

  // ---- acting as users ---------------------------------------------------------------------

  runSlashCommand(input: SlashCommandInput): InteractionHandle {
    return this.users.runSlashCommand(input);
  }

  /** Sends an autocomplete interaction and resolves with the bot's choices. */
  autocomplete(input: AutocompleteInput, timeoutMs = 5000): Promise<AutocompleteChoice[]> {
    return this.users.autocomplete(input, timeoutMs);
  }

  clickButton(messageId: string, customId: string, userId: string): InteractionHandle {
    return this.users.clickButton(messageId, customId, userId);
  }

  selectMenu(messageId: string, customId: string, userId: string, values: string[]): InteractionHandle {
    return this.users.selectMenu(messageId, customId, userId, values);
  }

  /**
   * A component interaction from `messageId` with any custom id, carried by the message or not: a
   * forged payload Discord would never send, for testing that the bot checks what it is given.
   */
  forgeComponent(messageId: string, customId: string, userId: string, componentType: 2 | 3 = 2, values?: string[]): InteractionHandle {
    return this.users.forgeComponent(messageId, customId, userId, componentType, values);
  }

  /** Submits the modal the bot opened in answer to `opened`. */
  submitModal(opened: InteractionHandle, values: Record<string, ModalValue>, userId = opened.record.userId): Promise<InteractionHandle> {
    return this.users.submitModal(opened, values, userId);
  }

  /** A user adds a unicode emoji reaction to a message; false when they had already made it. */
  react(messageId: string, userId: string, emoji: string): boolean {
    return this.reactions.add(messageId, userId, emoji);
  }

  /** A user takes their reaction back; false when they had not made it. */
  unreact(messageId: string, userId: string, emoji: string): boolean {
    return this.reactions.remove(messageId, userId, emoji);
  }

  /** A user posts in a channel or thread; attachments come from `uploadAttachment`. */
  postMessage(channelId: string, userId: string, content: string, attachments: APIAttachment[] = []): APIMessage {
    return this.users.postMessage(channelId, userId, content, attachments);
  }

  // ---- inspecting what the bot did ----------------------------------------------------------

  waitFor<E extends EmulatorEvent>(predicate: (e: EmulatorEvent) => e is E, timeoutMs?: number, since?: number): Promise<E>;
  waitFor(predicate: (e: EmulatorEvent) => boolean, timeoutMs?: number, since?: number): Promise<EmulatorEvent>;
  waitFor(predicate: (e: EmulatorEvent) => boolean, timeoutMs = 5000, since = 0): Promise<EmulatorEvent> {
    return this.events.waitFor(predicate, timeoutMs, since);
  }

  /** Resolves with the first message the bot creates in `channelId` (after `since`) that passes `filter`. */
  async waitForMessage(channelId: string, filter: (m: APIMessage) => boolean = () => true, timeoutMs = 5000, since = 0): Promise<APIMessage> {
    const event = await this.events.waitFor(
      (e) => e.kind === 'message_create' && e.channelId === channelId && e.source !== 'user' && filter(json<APIMessage>(e.message)),
      timeoutMs,
      since,
    );
    return json<APIMessage>((event as Extract<EmulatorEvent, { kind: 'message_create' }>).message);
  }

  /** Calls `listener` with every later event (a live view of the world); returns the unsubscribe. */
  onEvent(listener: (e: EmulatorEvent) => void): () => void {
    return this.events.subscribe(listener);
  }

  /** Position in the event history; pass as `since` to only match later events. */
  eventCursor(): number {
    return this.events.cursor();
  }

  eventHistory(): EmulatorEvent[] {
    return this.events.all();
  }

  messages(channelId: string): APIMessage[] {
    return this.state.channelMessages(channelId).map((m) => json<APIMessage>(this.core.renderer.message(m)));
  }

  message(messageId: string): APIMessage | undefined {
    const message = this.state.messages.get(messageId);
    return message && json<APIMessage>(this.core.renderer.message(message));
  }

  threads(parentId: string): APIChannel[] {
    return [...this.state.channels.values()].filter((c) => c.parentId === parentId).map((c) => json<APIChannel>(this.core.renderer.channel(c)));
  }

  /** A server's roles (id and name), @everyone first. */
  roles(guildId: string): { id: string; name: string }[] {
    return [...this.state.guild(guildId).roles.values()].map(({ id, name }) => ({ id, name }));
  }

  /**
   * The commands a member's picker lists in a server, as Discord's client lists them: the server's
   * and the global ones, without those whose default member permissions the member lacks.
   */
  commandsFor(guildId: string, userId: string): APIApplicationCommand[] {
    const granted = this.state.permissions(guildId, userId);
    return [...this.commands(guildId), ...this.commands()].filter((c) => maySeeCommand(granted, c.default_member_permissions));
  }

  commands(guildId?: string): APIApplicationCommand[] {
    return (this.state.commands.get(guildId ?? 'global') ?? []).map((c) => json<APIApplicationCommand>(c));
  }

  /** The stored bytes of an attachment (object, id, or CDN URL). */
  fileBytes(attachment: { id: string } | string): Buffer {
    const id = typeof attachment === 'string' ? (/\/attachments\/\d+\/(\d+)\//.exec(attachment)?.[1] ?? attachment) : attachment.id;
    const file = this.state.files.get(id);
    if (!file) throw new Error(`No stored file for ${JSON.stringify(attachment)}`);
    return file.bytes;
  }

  violations(): Violation[] {
    this.reportUnanswered();
    return this.violationLog.list();
  }

  clearViolations(): void {
    this.reportUnanswered();
    this.violationLog.clear();
  }

  assertNoViolations(): void {
    this.reportUnanswered();
    this.violationLog.assertNone();
  }

  // ---- fault injection -----------------------------------------------------------------------

  /** The next request matching gets a 429 with this retry_after; discord.js must wait and retry. */
  forceRateLimit(entry: ForcedRateLimit): void {
    this.limiter.force(entry);
  }

  /** Matching REST requests get a Discord-shaped 5xx (502 Bad Gateway...) `times` times, or until stop(). */
  failRequests(fault: RequestFault): FaultHandle {
    return this.faults.add(fault);
  }

  /** The next attachment download(s) from the CDN break: cut short, or trickled too slowly to finish. */
  failDownloads(fault: DownloadFault): void {
    this.core.cdn.faults.add(fault);
  }

  /** Ends every failure failRequests() set up. */
  stopFailingRequests(): void {
    this.faults.clear();
  }

  /** Moves the emulator's clock (interaction deadlines, token life, URL expiry) without waiting. */
  advanceTime(ms: number): void {
    this.clock.advance(ms);
  }

  /** Drops the gateway connection with a resumable close code; resolves once the client resumed. */
  kickGateway(code = 4000): Promise<void> {
    return this.core.gateway.kick(code);
  }

  async close(): Promise<void> {
    await Promise.all([this.rest.close(), this.core.gateway.close(), this.core.cdn.close()]);
  }

  // ---- internals -----------------------------------------------------------------------------

  private reportUnanswered(): void {
    for (const interaction of this.core.interactions.takeUnanswered()) {
      this.violationLog.record({
        kind: 'timing',
        route: 'INTERACTION_CREATE',
        status: 0,
        code: 10062,
        message: `Interaction ${interaction.id} (${interaction.commandName ?? `type ${interaction.type}`}) was never acknowledged within 3 s`,
        issues: [],
        at: Date.now(),
      });
    }
  }

}

