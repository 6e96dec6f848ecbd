import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { APIMessage } from 'discord.js';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import type { InteractionHandle } from '../../src/local-discord/interaction-handle.ts';
import { runJob } from '../../src/bot/run-job.ts';
import { newId } from '../../src/store/index.ts';
import { CHANNEL_A, CHANNEL_B, GUILD_A, GUILD_B, customIds, photo, startHarness, type Harness } from '../e2e/harness.ts';

// One model slot and a total queue cap of 3 waiting jobs; more users than that at once.
const CAP = 3;
const USERS = Array.from({ length: 8 }, (_, i) => `14000000000000000${10 + i}`);
const COLORS = ['#a05020', '#2050a0', '#20a050', '#a02080', '#808020', '#208080', '#602060', '#c0c040'];

let h: Harness;

before(async () => {
  h = await startHarness({
    config: { maxQueueLength: CAP, maxJobsPerGuild: 50, maxWaitingPerUser: 2 },
    guilds: [
      { id: GUILD_A, name: 'Pets', channels: [{ id: CHANNEL_A, name: 'art' }], members: USERS.map((id, i) => ({ id, username: `user${i}` })) },
      { id: GUILD_B, name: 'Other', channels: [{ id: CHANNEL_B, name: 'general' }], members: [] },
    ],
  });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

type Outcome = { kind: 'queued'; jobId: string } | { kind: 'refused'; text: string };

/** How the command ended for its user: a status with a Cancel button (queued), or a refusal. */
function outcomeOf(run: InteractionHandle): Promise<Outcome> {
  const refused = run.waitForFollowUp(0, 60_000).then((m): Outcome => ({ kind: 'refused', text: m.content }));
  const replied = (async (): Promise<Outcome> => {
    for (let n = 1; ; n++) {
      const m: APIMessage = await run.waitForReplyCount(n, 60_000);
      const cancel = customIds(m).find((c) => c.startsWith('xcot:cancel:'));
      if (cancel) return { kind: 'queued', jobId: cancel.split(':')[2] };
      if (/queue is full/i.test(m.content)) return { kind: 'refused', text: m.content };
    }
  })();
  refused.catch(() => {});
  replied.catch(() => {});
  return Promise.race([refused, replied]);
}

test('more users than the queue cap run /personalize with a photo at once: exactly cap jobs wait, the rest are told the queue is full, and only admitted jobs keep photos', async () => {
  // The first job keeps the slot while the others arrive, so the cap is what decides.
  const hold = h.holdGenerations();
  const uploads = await Promise.all(USERS.map(async (_, i) => h.emu.uploadAttachment(await photo(COLORS[i]), `pet${i}.png`, 'image/png', CHANNEL_A)));
  const runs = USERS.map((userId, i) =>
    h.emu.runSlashCommand({ guildId: GUILD_A, channelId: CHANNEL_A, userId, name: 'personalize', options: { prompt: `pet number ${i}`, image1: uploads[i] } }),
  );
  const outcomes = await Promise.all(runs.map(outcomeOf));

  const queued = outcomes.filter((o): o is Extract<Outcome, { kind: 'queued' }> => o.kind === 'queued');
  const refused = outcomes.filter((o): o is Extract<Outcome, { kind: 'refused' }> => o.kind === 'refused');
  const queue = h.deps.queue;
  // One running (it started at once) and exactly CAP waiting; everyone else refused.
  assert.equal(queue.runningCount, 1);
  assert.equal(queue.snapshot().waiting.length, CAP);
  assert.equal(queued.length, CAP + 1);
  assert.equal(refused.length, USERS.length - CAP - 1);
  for (const r of refused) assert.match(r.text, /The queue is full right now \(3 waiting\); try again in a few minutes\./);
  // Refused before anything was stored: the refusal came as a private follow-up, and no places are left held.
  for (const [i, o] of outcomes.entries()) if (o.kind === 'refused') assert.equal(runs[i].record.callbackType, 5);
  assert.equal(queue.reservedCount, 0);

  // The photo store holds exactly the admitted jobs' photos; refused users have no job records.
  const { photos, jobs } = h.deps.stores;
  const admittedHashes = new Set<string>();
  for (const q of queued) {
    const job = await jobs.get(q.jobId);
    assert.equal(job?.photoHashes?.length, 1);
    for (const hash of job!.photoHashes!) {
      assert.ok(await photos.has(hash));
      admittedHashes.add(hash);
    }
  }
  assert.equal(admittedHashes.size, CAP + 1);
  assert.equal(await photos.count(), CAP + 1);
  for (const [i, o] of outcomes.entries()) if (o.kind === 'refused') assert.deepEqual(await jobs.listByUser(USERS[i]), []);
  void hold;
  h.emu.assertNoViolations();
});

test('a job refused at enqueue after its intake (no place reserved) has its photos deleted; photos other jobs use stay', async () => {
  // The queue is still full from the test above. A job whose photos were stored but that holds no place:
  const { photos, jobs } = h.deps.stores;
  const id = newId();
  const own = await photos.putPhoto(await photo('#123456'), `job:${id}`);
  const shared = await photos.putPhoto(await photo('#654321'), `job:${id}`);
  await photos.putPhoto(await photo('#654321'), 'subject:keepme');
  const job = await jobs.create({ id, ownerId: USERS[0], guildId: GUILD_A, channelId: CHANNEL_A, prompt: 'late', seed: 1, options: {}, photoHashes: [own, shared] });
  const edits: string[] = [];
  const status = { edit: async (p: { content?: string | null }) => (edits.push(String(p.content)), null) };
  await runJob(h.deps, job, { status, trace: false, sizeLimit: 10 * 2 ** 20 });
  assert.match(edits.at(-1) ?? '', /queue is full/i);
  assert.equal(await photos.has(own), false);
  assert.equal(await photos.has(shared), true);
  assert.deepEqual(await photos.refs(shared), ['subject:keepme']);
  assert.equal((await jobs.get(id))?.status, 'failed');
});
