import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { NOT_YOUR_QUESTION } from '../../src/bot/confirm-gate.ts';
import { ConsentStore } from '../../src/store/consent-store.ts';
import type { OptionValue } from '../../src/local-discord/interaction-payloads.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_A, GUILD_A, buttonId, customIds, photo, startHarness, waitForMessageState, waitForThreadResult, type Harness } from '../e2e/harness.ts';

const EPHEMERAL = 1 << 6;

let h: Harness;
/** The consent records in the running bot's store (a restart opens a new one). */
const consents = { get: (userId: string) => new ConsentStore(h.deps.stores.store).get(userId) };

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

function run(userId: string, name: string, options: Record<string, OptionValue>, subcommand?: string) {
  return h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name, ...(subcommand ? { subcommand } : {}), options });
}

async function upload(color: string) {
  return h.emu.uploadAttachment(await photo(color), 'p.png', 'image/png', CHANNEL_A);
}

async function settings(sub: string, options: Record<string, OptionValue>): Promise<void> {
  const reply = await run(CAROL, 'settings', options, sub).waitForReply(15_000);
  assert.match(reply.content, /Saved/);
}

/** The question in an ephemeral message: its text and the ids of its two buttons. */
function question(message: APIMessage): { content: string; yes: string; no: string } {
  assert.ok((Number(message.flags ?? 0) & EPHEMERAL) !== 0, 'asked ephemerally');
  const ids = customIds(message);
  const yes = ids.find((id) => id.endsWith(':yes'));
  const no = ids.find((id) => id.endsWith(':no'));
  assert.ok(yes && no, `two buttons: ${ids.join(', ')}`);
  return { content: message.content, yes, no };
}

function buttonLabels(message: APIMessage): string[] {
  const out: string[] = [];
  const visit = (c: unknown): void => {
    const o = c as { label?: string; components?: unknown[] } | null;
    if (o?.label) out.push(o.label);
    o?.components?.forEach(visit);
  };
  (message.components as unknown[] | undefined)?.forEach(visit);
  return out;
}

test('consent is asked once, before anything is stored; the /personalize goes on after the click without retyping', async () => {
  await settings('privacy', { consent_required: true });
  const since = h.emu.eventCursor();
  const handle = run(ALICE, 'personalize', { prompt: 'my dog on the moon', image1: await upload('#a05020'), seed: 5 });
  const asked = await handle.waitForReply(5000);
  const q = question(asked);
  assert.match(q.content, /right to use them/);
  assert.deepEqual(buttonLabels(asked), ['I have the right to use these photos', 'Cancel']);
  assert.equal(await h.deps.stores.photos.count(), 0, 'nothing downloaded or stored while asking');
  assert.deepEqual(await h.deps.stores.jobs.listByUser(ALICE), []);
  assert.equal(await consents.get(ALICE), undefined);

  const t0 = Date.now();
  const click = h.emu.clickButton(asked.id, q.yes, ALICE);
  assert.equal(await click.waitForAck(), 5, 'the click makes the public reply');
  const { result } = await waitForThreadResult(h, since);
  assert.match(result.content, /my dog on the moon/);
  assert.match(result.content, /Seed 5/);
  const record = await consents.get(ALICE);
  assert.ok(record && record.at >= t0 - 1000 && record.at <= Date.now() + 1000, 'recorded with its time');
  const cleared = await handle.waitForReplyCount(2);
  assert.deepEqual(customIds(cleared), [], 'the question loses its buttons');

  // The second time: no question, straight to the queue.
  const image1 = await upload('#a05020');
  const since2 = h.emu.eventCursor();
  const again = run(ALICE, 'personalize', { prompt: 'my dog at the beach', image1, seed: 6 });
  assert.equal(await again.waitForAck(), 5);
  await waitForThreadResult(h, since2);
  h.emu.assertNoViolations();
});

test('Cancel on the consent question: nothing downloaded, stored or recorded', async () => {
  const photosBefore = await h.deps.stores.photos.count();
  const handle = run(BOB, 'subject', { name: 'Rex', image1: await upload('#2050a0') }, 'save');
  const asked = await handle.waitForReply(5000);
  const q = question(asked);
  const cancel = h.emu.clickButton(asked.id, q.no, BOB);
  const answer = await cancel.waitForReply();
  assert.match(answer.content, /Cancelled: nothing was downloaded or stored/);
  assert.deepEqual(customIds(answer), []);
  assert.equal(await h.deps.stores.subjects.count(BOB), 0);
  assert.equal(await h.deps.stores.photos.count(), photosBefore);
  assert.equal(await consents.get(BOB), undefined);
  h.emu.assertNoViolations();
});

test('where people are not allowed, every use of photos asks "no real person"; "they show a person" is refused with the reason', async () => {
  await settings('subjects', { people_allowed: false });
  // Bob: consent first, then the people question, in the same message.
  const handle = run(BOB, 'subject', { name: 'Rex', image1: await upload('#2050a0') }, 'save');
  const first = await handle.waitForReply(5000);
  const consent = question(first);
  const toPeople = h.emu.clickButton(first.id, consent.yes, BOB);
  const second = await toPeople.waitForReply();
  const people = question(second);
  assert.match(people.content, /does not allow pictures of real people/);
  assert.match(people.content, /Nothing looks at the photos/);
  const no = await h.emu.clickButton(second.id, people.no, BOB).waitForReply();
  assert.match(no.content, /does not allow photos of real people, so nothing was made or stored/);
  assert.equal(await h.deps.stores.subjects.count(BOB), 0);

  // Alice already consented: only the people question; confirming saves the subject.
  const save = run(ALICE, 'subject', { name: 'Rex', image1: await upload('#a05020') }, 'save');
  const asked = question(await save.waitForReply(5000));
  assert.match(asked.content, /real people/);
  const confirm = h.emu.clickButton((await save.waitForReply()).id, asked.yes, ALICE);
  assert.equal(await confirm.waitForAck(), 6, 'acknowledged in place');
  const saved = await save.waitForReplyCount(2, 15_000);
  assert.match(saved.content, /Saved \*\*Rex\*\*/);
  assert.equal(await h.deps.stores.subjects.count(ALICE), 1);
  await settings('subjects', { people_allowed: true });
  h.emu.assertNoViolations();
});

test('a question asked before a restart: its click is answered (closed, run the command again), never left hanging', async () => {
  const handle = run(BOB, 'personalize', { prompt: 'a dog', image1: await upload('#a05020') });
  const asked = await handle.waitForReply(5000);
  const q = question(asked);
  await h.restart();
  const click = h.emu.clickButton(asked.id, q.yes, BOB);
  const answer = await click.waitForReply();
  assert.match(answer.content, /closed \(already answered, or asked before the bot restarted\)\. Run the command again/);
  assert.deepEqual(customIds(answer), []);
  assert.equal(await consents.get(BOB), undefined);
  assert.deepEqual(await h.deps.stores.jobs.listByUser(BOB), []);
  h.emu.assertNoViolations();
});

test('a confirm question clicked by another member: only the clicker is told only the asker can answer, and the question stays the asker\'s', async () => {
  const handle = run(BOB, 'personalize', { prompt: 'a dog', image1: await upload('#a05020') });
  const asked = await handle.waitForReply(5000);
  const q = question(asked);
  const since = h.emu.eventCursor();
  const foreign = h.emu.clickButton(asked.id, q.yes, CAROL);
  assert.equal(await foreign.waitForAck(), 4, 'answered with a reply of its own, not an update of the question');
  const answer = await foreign.waitForReply();
  assert.equal(Number(answer.flags) & EPHEMERAL, EPHEMERAL, 'seen by the clicker alone');
  assert.equal(answer.content, NOT_YOUR_QUESTION);
  const touched = h.emu.eventHistory().slice(since).filter((e) => e.kind === 'message_update' && e.message.id === asked.id);
  assert.deepEqual(touched, [], 'the question is left as it was');
  assert.equal(await consents.get(CAROL), undefined);
  assert.equal(await consents.get(BOB), undefined);
  // Still Bob's question, and his wait still takes his click.
  const cancel = h.emu.clickButton(asked.id, q.no, BOB);
  assert.match((await cancel.waitForReply()).content, /Cancelled: nothing was downloaded or stored/);
  assert.equal(await consents.get(BOB), undefined);
  assert.deepEqual(await h.deps.stores.jobs.listByUser(BOB), []);
  h.emu.assertNoViolations();
});

test('forget-me removes the consent record, and the next use of photos asks again', async () => {
  assert.ok(await consents.get(ALICE));
  const done = await run(ALICE, 'subject', { confirm: true }, 'forget-me').waitForReply(30_000);
  assert.match(done.content, /Done/);
  assert.equal(await consents.get(ALICE), undefined);
  assert.deepEqual(await h.deps.stores.store.keys('consents'), []);

  const handle = run(ALICE, 'personalize', { prompt: 'a dog', image1: await upload('#a05020') });
  const q = question(await handle.waitForReply(5000));
  assert.match(q.content, /right to use them/);
  await h.emu.clickButton((await handle.waitForReply()).id, q.no, ALICE).waitForReply();
  assert.deepEqual(await h.deps.stores.jobs.listByUser(ALICE), []);
  h.emu.assertNoViolations();
});

test('new photos in a refinement need consent too: the owner is sent to /personalize, nothing is stored', async () => {
  const since = h.emu.eventCursor();
  const made = run(BOB, 'personalize', { prompt: 'a teapot' });
  assert.equal(await made.waitForAck(), 5, 'no photos: nothing to ask');
  const { result } = await waitForThreadResult(h, since);
  const photos = await h.deps.stores.photos.count();
  const opened = h.emu.clickButton(result.id, buttonId(result, 'refine'), BOB);
  const submitted = await h.emu.submitModal(opened, { prompt: 'a teapot on a rug', photos: [await upload('#406080')] });
  // A declared precondition of the Refine modal: refused before anything is deferred, downloaded or queued.
  const answer = await submitted.waitForReply(15_000);
  assert.equal(submitted.callbackType, 4, 'a direct reply, not a deferred public one');
  assert.equal(Number(answer.flags) & EPHEMERAL, EPHEMERAL);
  assert.match(answer.content, /confirm you have the right to use them: run `\/personalize` with a photo/);
  assert.equal(await h.deps.stores.photos.count(), photos);
  assert.equal((await h.deps.stores.jobs.listByUser(BOB)).length, 1);
  h.emu.assertNoViolations();
});

test('new photos in a reply in the thread need consent too: the owner is sent to /personalize, nothing is stored', async () => {
  const since = h.emu.eventCursor();
  const made = run(BOB, 'personalize', { prompt: 'a kettle' });
  assert.equal(await made.waitForAck(), 5, 'no photos: nothing to ask');
  const { threadId } = await waitForThreadResult(h, since);
  const photos = await h.deps.stores.photos.count();
  const jobs = (await h.deps.stores.jobs.listByUser(BOB)).length;
  const replied = h.emu.eventCursor();
  const reply = h.emu.postMessage(threadId, BOB, 'on a stove', [h.emu.uploadAttachment(await photo('#406080'), 'k.png', 'image/png')]);
  const status = await h.emu.waitForMessage(threadId, (m) => m.message_reference?.message_id === reply.id, 15_000, replied);
  await waitForMessageState(h, status.id, (m) => /confirm you have the right to use them: run `\/personalize` with a photo/.test(m.content), 15_000, replied);
  assert.equal(await h.deps.stores.photos.count(), photos);
  assert.equal((await h.deps.stores.jobs.listByUser(BOB)).length, jobs);
  h.emu.assertNoViolations();
});
