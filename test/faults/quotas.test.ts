import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { NO_QUOTA, Quota, QuotaExceededError, type QuotaLimits } from '../../src/jobs/quota.ts';
import { updateServerSettings } from '../../src/store/server-settings.ts';
import { ALICE as E2E_ALICE, BOB as E2E_BOB, CAROL, CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, buttonId, customIds, personalize, photo, startHarness, waitForThreadResult, type Harness } from '../e2e/harness.ts';
import type { InteractionHandle } from '../../src/local-discord/interaction-handle.ts';
import { findRedisServer, startRedisServer } from '../helpers/redis-server.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';

const G1 = '1200000000000000011';
const G2 = '1200000000000000021';
const ALICE = '1300000000000000011';
const BOB = '1300000000000000012';
const HOUR = 3_600_000;
// 10:20 UTC on some day: the hour's window ends at 11:00, the day's at midnight.
const T0 = Date.UTC(2026, 10, 30, 10, 20);

function limits(l: Partial<QuotaLimits>): () => Promise<QuotaLimits> {
  return async () => ({ ...NO_QUOTA, ...l });
}

async function refused(p: Promise<unknown>): Promise<QuotaExceededError> {
  const err = await p.then(
    () => assert.fail('expected a quota refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof QuotaExceededError, `not a quota refusal: ${err}`);
  return err;
}

test('2 images an hour per member: the third is refused with the time the next is allowed; other members and servers are unaffected', async () => {
  let now = T0;
  const q = new Quota({ limitsFor: limits({ userPerHour: 2 }), now: () => now });
  try {
    await q.take('job1', ALICE, G1, 1);
    await q.take('job2', ALICE, G1, 1);
    const err = await refused(q.take('job3', ALICE, G1, 1));
    assert.equal(err.retryAt, Date.UTC(2026, 10, 30, 11, 0));
    assert.match(err.message, /2 images an hour in this server/);
    assert.ok(err.message.includes(`<t:${Date.UTC(2026, 10, 30, 11, 0) / 1000}:R>`), err.message);
    await refused(q.check(ALICE, G1, 1));
    // Bob in the same server, Alice in another server and in DMs: their own counts.
    await q.take('job4', BOB, G1, 2);
    await q.take('job5', ALICE, G2, 2);
    await q.take('job6', ALICE, null, 2);
    // The next hour is a new window.
    now = T0 + HOUR;
    await q.check(ALICE, G1, 2);
    await q.take('job7', ALICE, G1, 2);
  } finally {
    await q.close();
  }
});

test('each image counts: a job of 4 against 3 left is refused and takes nothing; more than the limit at once says how many', async () => {
  const q = new Quota({ limitsFor: limits({ userPerDay: 5 }), now: () => T0 });
  try {
    await q.take('a', ALICE, G1, 2);
    const err = await refused(q.take('b', ALICE, G1, 4));
    assert.match(err.message, /3 images left now, not 4/);
    assert.equal(err.retryAt, Date.UTC(2026, 11, 1));
    await q.take('c', ALICE, G1, 3);
    const tooMany = await refused(q.check(BOB, G1, 6));
    assert.equal(tooMany.retryAt, null);
    assert.match(tooMany.message, /ask for 5 or fewer/);
  } finally {
    await q.close();
  }
});

test('server quota is shared by its members; refund gives images back, settle keeps them', async () => {
  const q = new Quota({ limitsFor: limits({ guildPerHour: 3 }), now: () => T0 });
  try {
    await q.take('a', ALICE, G1, 2);
    await q.take('b', BOB, G1, 1);
    const err = await refused(q.take('c', BOB, G1, 1));
    assert.match(err.message, /this server can make 3 images an hour/i);
    assert.equal(await q.refund('b'), true);
    assert.equal(await q.refund('b'), false, 'a refund is given once');
    await q.take('c', BOB, G1, 1);
    q.settle('c');
    assert.equal(await q.refund('c'), false);
    await refused(q.check(ALICE, G1, 1));
    // DMs have no server quota.
    await q.take('d', ALICE, null, 3);
  } finally {
    await q.close();
  }
});

test('concurrent takes never go over the quota', async () => {
  const q = new Quota({ limitsFor: limits({ userPerHour: 3 }), now: () => T0 });
  try {
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => q.take(`j${i}`, ALICE, G1, 1)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
  } finally {
    await q.close();
  }
});

test('no limits (the default): nothing is refused', async () => {
  const q = new Quota({ limitsFor: async () => NO_QUOTA });
  try {
    for (let i = 0; i < 50; i++) await q.take(`j${i}`, ALICE, G1, 4);
  } finally {
    await q.close();
  }
});

test('Redis: two Quota instances on the same server share the counts', async (t) => {
  const binary = await findRedisServer();
  if (!binary) {
    t.skip('redis-server is not installed (apt-get install -y redis-server)');
    return;
  }
  const redis = await startRedisServer(binary);
  const errors: unknown[] = [];
  const open = () => new Quota({ limitsFor: limits({ userPerHour: 2, guildPerDay: 3 }), redisUrl: redis.url, now: () => T0, onError: (e) => errors.push(e) });
  const a = open();
  const b = open();
  try {
    await a.take('a1', ALICE, G1, 1);
    await b.take('b1', ALICE, G1, 1);
    const err = await refused(a.take('a2', ALICE, G1, 1));
    assert.equal(err.retryAt, Date.UTC(2026, 10, 30, 11, 0));
    await refused(b.check(ALICE, G1, 1));
    // The server's day quota (3) is shared too: Bob gets one.
    await b.take('b2', BOB, G1, 1);
    const day = await refused(a.take('a3', BOB, G1, 1));
    assert.match(day.message, /this server can make 3 images a day/i);
    // A refund in one process frees the place for the other.
    assert.equal(await b.refund('b2'), true);
    await a.take('a3', BOB, G1, 1);
    // Concurrent takes from both processes never exceed the quota.
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).take(`c${i}`, BOB, G2, 1)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
    assert.deepEqual(errors, []);
  } finally {
    await a.close();
    await b.close();
    await redis.stop();
  }
});

describe('the bot with a quota of 2 images an hour per member', () => {
  let h: Harness;
  const EPHEMERAL = 64;

  before(async () => {
    h = await startHarness({ config: { quota: { ...NO_QUOTA, userPerHour: 2 } } });
  });

  after(async () => {
    await h?.close();
    removeTinyBundles();
  });

  /** The refusal of a /personalize: the first answer (before any public reply or download), seen by the user alone. */
  async function refusalOf(run: InteractionHandle): Promise<APIMessage> {
    const m = await run.waitForReply(30_000);
    assert.equal(run.callbackType, 4, `a direct reply, nothing deferred: ${m.content}`);
    assert.equal((m.flags ?? 0) & EPHEMERAL, EPHEMERAL, `only the user sees it: ${m.content}`);
    return m;
  }

  function nextHours(): number[] {
    const hour = Math.floor(Date.now() / HOUR);
    return [(hour + 1) * HOUR, (hour + 2) * HOUR].map((ms) => ms / 1000);
  }

  test('a /personalize whose photo breaks in download gives back its images and its queue place: nothing stays held', async () => {
    h.emu.failDownloads({ mode: 'short' });
    const run = h.emu.runSlashCommand({
      guildId: GUILD_A,
      channelId: CHANNEL_A,
      userId: CAROL,
      name: 'personalize',
      options: { prompt: 'an owl on a branch', count: 2, image1: h.emu.uploadAttachment(await photo('#806040'), 'owl.png', 'image/png') },
    });
    assert.match((await run.waitForFollowUp(0, 15_000)).content, /^owl\.png arrived incomplete from Discord/);
    assert.equal(h.deps.queue.reservedCount, 0, 'the queue place was given back');
    await h.deps.quota.check(CAROL, GUILD_A, 2);
    assert.deepEqual(await h.deps.stores.jobs.listByUser(CAROL), []);
    h.emu.assertNoViolations();
  });

  test('the third image in an hour is refused, privately, with when the next is allowed; other members and servers are unaffected', async () => {
    const user = E2E_ALICE;
    const other = E2E_BOB;
    let since = h.emu.eventCursor();
    await personalize(h, { userId: user, options: { prompt: 'a kite over a beach' } });
    const { result } = await waitForThreadResult(h, since);
    since = h.emu.eventCursor();
    await personalize(h, { userId: user, options: { prompt: 'a kite over a field' } });
    await waitForThreadResult(h, since);
    const jobsBefore = (await h.deps.stores.jobs.listByUser(user)).length;

    const run = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: user, name: 'personalize', options: { prompt: 'a third kite' } });
    const refusal = await refusalOf(run);
    assert.match(refusal.content, /You can make 2 images an hour in this server and that is used up; the next image is allowed <t:(\d+):R>\./);
    const at = Number(/<t:(\d+):R>/.exec(refusal.content)![1]);
    assert.ok(nextHours().includes(at), `${at} is the start of the next hour`);
    assert.equal((await h.deps.stores.jobs.listByUser(user)).length, jobsBefore, 'no job was made');
    assert.ok(!h.emu.messages(CHANNEL_A).some((m) => /used up/.test(m.content) && ((m.flags ?? 0) & EPHEMERAL) === 0), 'nothing public');

    // Regenerate is a new image too: refused to the clicker alone.
    const click = h.emu.clickButton(result.id, buttonId(result, 'regen'), user);
    const answer = await click.waitForReply(10_000);
    assert.equal((answer.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.match(answer.content, /used up; the next image is allowed <t:\d+:R>/);

    // Another member in the same server, and the same member in another server, still draw.
    await personalize(h, { userId: other, options: { prompt: 'a red kite' } });
    await personalize(h, { userId: user, guildId: GUILD_B, channelId: CHANNEL_B, options: { prompt: 'a kite elsewhere' } });
    await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0);
    h.emu.assertNoViolations();
  });

  test('a job cancelled before it started gives its images back; one that started keeps them', async () => {
    const hold = h.holdGenerations();
    try {
      const first = await personalize(h, { userId: CAROL, options: { prompt: 'a barn owl' } });
      await hold.reached(1);
      const second = await personalize(h, { userId: CAROL, options: { prompt: 'a snowy owl' } });
      const cancel = h.emu.clickButton(second.status.id, buttonId(second.status, 'cancel'), CAROL);
      assert.equal((await cancel.waitForReply(10_000)).content, 'Cancelled.');
      // The quota is settled when the cancelled job's flow ends.
      await waitFor(async () => (await h.deps.stores.jobs.get(second.jobId))?.status === 'cancelled');
      const third = await retry(() => personalize(h, { userId: CAROL, options: { prompt: 'a little owl' } }));
      assert.notEqual(third.jobId, first.jobId);
      const fourth = h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId: CAROL, name: 'personalize', options: { prompt: 'one owl too many' } });
      assert.match((await refusalOf(fourth)).content, /used up/);
    } finally {
      hold.release();
      await waitFor(() => h.deps.queue.runningCount === 0 && h.deps.queue.waitingCount === 0, 60_000);
    }
    h.emu.assertNoViolations();
  });

  test("a server's own limit (settings) is stricter than the bot's: 1 an hour there, asking for 2 at once says how many", async () => {
    await updateServerSettings(h.deps.stores, GUILD_B, () => ({ quotaUserPerHour: 1 }));
    const user = E2E_BOB;
    const run = h.emu.runSlashCommand({ guildId: GUILD_B, channelId: CHANNEL_B, userId: user, name: 'personalize', options: { prompt: 'two kites', count: 2 } });
    assert.match((await refusalOf(run)).content, /1 image an hour in this server, so 2 at once is too many; ask for 1 or fewer\./);
    const since = h.emu.eventCursor();
    const ok = await personalize(h, { userId: user, guildId: GUILD_B, channelId: CHANNEL_B, options: { prompt: 'one kite' } });
    assert.ok(customIds(ok.status).length > 0);
    await waitForThreadResult(h, since);
    const again = h.emu.runSlashCommand({ guildId: GUILD_B, channelId: CHANNEL_B, userId: user, name: 'personalize', options: { prompt: 'another kite' } });
    assert.match((await refusalOf(again)).content, /1 image an hour in this server and that is used up/);
    h.emu.assertNoViolations();
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The refund lands just after the cancel's flow ends; a /personalize right then may still see it taken. */
async function retry<T>(fn: () => Promise<T>, tries = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
