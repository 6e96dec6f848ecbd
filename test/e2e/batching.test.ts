import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { removeTinyBundles } from '../helpers/tiny-bundle.ts';
import { ALICE, BOB, personalize, startHarness, type Harness } from './harness.ts';

// One engine worker drawing up to two jobs together (BATCH_JOBS=2): the queue runs two at once.
let h: Harness;

before(async () => {
  h = await startHarness({ config: { batchJobs: 2 } });
});

after(async () => {
  await h?.close();
  removeTinyBundles();
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('with BATCH_JOBS=2 two users are drawn at the same time on one worker (their decoder steps interleave), and both get their image', async () => {
  // Which job each progress step belongs to, in the order the worker reported them.
  const steps: string[] = [];
  const engine = h.deps.engine;
  const draw = engine.generate;
  engine.generate = function tagged(this: typeof engine, request) {
    return draw.call(this, { ...request, onStep: (done: number, total: number) => (steps.push(request.prompt), request.onStep?.(done, total)) });
  };
  const hold = h.holdGenerations();
  let started: Awaited<ReturnType<typeof personalize>>[];
  try {
    started = await Promise.all([
      personalize(h, { userId: ALICE, options: { prompt: 'a lighthouse at dusk', seed: 1 } }),
      personalize(h, { userId: BOB, options: { prompt: 'a red tractor in a wheat field', seed: 2 } }),
    ]);
    await hold.reached(2);
    assert.equal(h.deps.queue.runningCount, 2, 'both jobs run at once');
    assert.doesNotMatch(started[1].status.content, /position/, "Bob's job did not wait behind Alice's");
  } finally {
    hold.release();
  }
  const jobs = h.deps.stores.jobs;
  await waitFor(async () => (await Promise.all(started.map((s) => jobs.get(s.jobId)))).every((j) => j?.status === 'done'));
  for (const s of started) {
    const job = await jobs.get(s.jobId);
    assert.equal(job?.status, 'done');
  }
  engine.generate = draw;
  assert.equal(h.deps.engine instanceof Object && (h.deps.engine as { workers?: number }).workers, 1, 'one engine worker');
  const [a, b] = ['a lighthouse at dusk', 'a red tractor in a wheat field'];
  assert.ok(steps.includes(a) && steps.includes(b), 'no progress from one of the jobs');
  // Drawn one after the other, every step of one job would come before every step of the other.
  assert.ok(steps.indexOf(b) < steps.lastIndexOf(a) && steps.indexOf(a) < steps.lastIndexOf(b), `steps did not interleave: ${steps.length} steps`);
});
