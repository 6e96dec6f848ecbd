import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ACTIONS } from '../../src/bot/custom-ids.ts';
import { COMPONENT_ACTIONS } from '../../src/bot/components/registry.ts';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, CAROL, CHANNEL_B, GUILD_B, buttonId, personalize, startHarness, waitForThreadResult, type Harness } from './harness.ts';

// Carol has Manage Server in the first guild and is not a member of the second (the harness' members).
let h: Harness;
const EPHEMERAL = 64;
const NOT_OURS = /out of date or not one of this bot’s/;

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function finishedJob({ prompt, ...where }: { userId: string; guildId?: string; channelId?: string; prompt: string }) {
  const since = h.emu.eventCursor();
  const { jobId, status } = await personalize(h, { ...where, options: { prompt } });
  const { result } = await waitForThreadResult(h, since);
  return { jobId, status, result };
}

async function assertRefusedPrivately(click: ReturnType<Harness['emu']['forgeComponent']>, pattern: RegExp): Promise<void> {
  const reply = await click.waitForReply(10_000);
  assert.equal(click.callbackType, 4, 'answered at once, not deferred');
  assert.equal((reply.flags ?? 0) & EPHEMERAL, EPHEMERAL, `only the clicker sees it: ${reply.content}`);
  assert.match(reply.content, pattern);
}

test('every action word has exactly one registered handler, registered under its own word', () => {
  assert.deepEqual(Object.keys(COMPONENT_ACTIONS).sort(), [...ACTIONS].sort());
  for (const [word, action] of Object.entries(COMPONENT_ACTIONS)) assert.equal(action.action, word);
});

test('a forged Delete of another server’s job, sent from a message in this server by a member with Manage Server here, is refused and deletes nothing', async () => {
  const theirs = await finishedJob({ userId: BOB, guildId: GUILD_B, channelId: CHANNEL_B, prompt: 'a lantern in the fog' });
  const ours = await finishedJob({ userId: ALICE, prompt: 'a kite over a beach' });

  const forged = h.emu.forgeComponent(ours.result.id, `xcot:delete:${theirs.jobId}`, CAROL);
  await assertRefusedPrivately(forged, NOT_OURS);
  const record = await h.deps.stores.jobs.get(theirs.jobId);
  assert.equal(record?.deletedAt, undefined, 'the other server’s job is not marked deleted');
  assert.ok(h.emu.message(theirs.result.id), 'the other server’s result is still there');
  assert.ok(h.emu.message(ours.result.id), 'the message it was sent from is untouched');
  h.emu.assertNoViolations();
});

test('a forged button of this server’s job, sent from a message that does not carry it, is refused', async () => {
  const job = await finishedJob({ userId: ALICE, prompt: 'a snail on a leaf' });
  // The status reply of the job carries no Delete button; a moderator's forged one from it does nothing.
  const forged = h.emu.forgeComponent(job.status.id, buttonId(job.result, 'delete'), CAROL);
  await assertRefusedPrivately(forged, NOT_OURS);
  assert.equal((await h.deps.stores.jobs.get(job.jobId))?.deletedAt, undefined);
  assert.ok(h.emu.message(job.result.id));
  // The owner's Regenerate of the job, forged on another job's result, starts nothing.
  const other = await finishedJob({ userId: ALICE, prompt: 'a teapot in the snow' });
  const jobsBefore = h.deps.queue.waitingCount + h.deps.queue.runningCount;
  await assertRefusedPrivately(h.emu.forgeComponent(other.result.id, buttonId(job.result, 'regen'), ALICE), NOT_OURS);
  assert.equal(h.deps.queue.waitingCount + h.deps.queue.runningCount, jobsBefore);
  h.emu.assertNoViolations();
});

test('unknown, malformed and over-long custom ids, on a button or a menu, each get a private answer', async () => {
  const job = await finishedJob({ userId: ALICE, prompt: 'a lamp on a desk' });
  const ids = [
    `xcot:launch:${job.jobId}`,
    'hello',
    'xcot:delete',
    `xcot:delete:${job.jobId}:extra`,
    `xcot:delete:${'a'.repeat(120)}`,
    `xcot:regen:${job.jobId}${'x'.repeat(100)}`,
    'xcot:delete:no such job',
  ];
  for (const id of ids) await assertRefusedPrivately(h.emu.forgeComponent(job.result.id, id, ALICE), NOT_OURS);
  await assertRefusedPrivately(h.emu.forgeComponent(job.result.id, 'somebody-elses-menu', ALICE, 3, ['1']), NOT_OURS);
  // A button's id sent as a menu: the kind does not match the action.
  await assertRefusedPrivately(h.emu.forgeComponent(job.result.id, buttonId(job.result, 'delete'), ALICE, 3, ['1']), NOT_OURS);
  assert.equal((await h.deps.stores.jobs.get(job.jobId))?.deletedAt, undefined);
  h.emu.assertNoViolations();
});
