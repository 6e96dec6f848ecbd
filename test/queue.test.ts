import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, InputError } from '../src/errors.ts';
import { JobQueue, JobTimeoutError, QueueClosedError, QueueFullError } from '../src/jobs/in-process/job-queue.ts';
import type { JobHandle } from '../src/jobs/job-runner.ts';
import type { QueueSnapshot } from '../src/jobs/queue-view.ts';

/** A runner whose end the test decides: finish(value) / fail(error); it honours the AbortSignal. */
class Job {
  started = false;
  sawAbort = false;
  #resolve!: (value: string) => void;
  #reject!: (error: unknown) => void;
  readonly #done: Promise<string>;

  constructor(
    readonly id: string,
    private readonly log: string[],
    private readonly honourAbort = true,
  ) {
    this.#done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#done.catch(() => {});
  }

  readonly run = async (signal: AbortSignal): Promise<string> => {
    this.started = true;
    this.log.push(this.id);
    signal.addEventListener('abort', () => {
      this.sawAbort = true;
      if (this.honourAbort) this.#reject(signal.reason);
    });
    return this.#done;
  };

  finish(): void {
    this.#resolve(`${this.id} done`);
  }

  fail(error: unknown): void {
    this.#reject(error);
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Lets bottleneck start what the queue handed it (it runs jobs on a timer, not synchronously). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

function setup(options: ConstructorParameters<typeof JobQueue>[0] = {}) {
  const queue = new JobQueue(options);
  const log: string[] = [];
  const jobs = new Map<string, Job>();
  const handles = new Map<string, JobHandle<string>>();
  const submit = (id: string, userId: string, guildId: string | null = 'g1', honourAbort = true) => {
    const job = new Job(id, log, honourAbort);
    const handle = queue.submit({ id, userId, guildId, run: job.run });
    jobs.set(id, job);
    handles.set(id, handle);
    return handle;
  };
  /** Finishes the one running job with this id and lets the queue move on. */
  const finish = async (id: string) => {
    await settle();
    const job = jobs.get(id)!;
    assert.ok(job.started, `${id} should be running`);
    job.finish();
    await handles.get(id)!.result;
    await settle();
  };
  return { queue, log, jobs, handles, submit, finish };
}

function assertQueueFull(fn: () => unknown, limit: string, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof QueueFullError, `expected QueueFullError, got ${String(error)}`);
    assert.ok(error instanceof InputError);
    assert.equal(error.limit, limit);
    assert.equal(error.code, 'queue_full');
    assert.equal(error.message, message);
    return true;
  });
}

test('fairness: A submits 3, B submits 1 -> B runs second; FIFO within a user', async () => {
  const { queue, log, submit, finish } = setup({ concurrency: 1 });
  submit('a1', 'A');
  submit('a2', 'A');
  submit('a3', 'A');
  submit('b1', 'B');
  assert.equal(queue.position('a1'), 0);
  assert.equal(queue.position('b1'), 1);
  assert.equal(queue.position('a2'), 2);
  assert.equal(queue.position('a3'), 3);
  assert.deepEqual(
    queue.snapshot().waiting.map((w) => [w.id, w.position]),
    [['b1', 1], ['a2', 2], ['a3', 3]],
  );
  for (const id of ['a1', 'b1', 'a2', 'a3']) await finish(id);
  assert.deepEqual(log, ['a1', 'b1', 'a2', 'a3']);
  assert.equal(queue.position('a3'), null);
  assert.deepEqual(queue.snapshot().running, []);
});

test('fairness: round-robin across three users, later arrivals are not starved', async () => {
  const { log, submit, finish, queue } = setup({ concurrency: 1, maxWaitingPerUser: 5 });
  submit('a1', 'A');
  submit('a2', 'A');
  submit('a3', 'A');
  submit('b1', 'B');
  submit('b2', 'B');
  submit('c1', 'C');
  assert.deepEqual(queue.snapshot().waiting.map((w) => w.id), ['b1', 'c1', 'a2', 'b2', 'a3']);
  await finish('a1');
  await finish('b1');
  // D arrives late: served before users who have already had a turn.
  submit('d1', 'D');
  assert.equal(queue.position('d1'), 1);
  for (const id of ['c1', 'd1', 'a2', 'b2', 'a3']) await finish(id);
  assert.deepEqual(log, ['a1', 'b1', 'c1', 'd1', 'a2', 'b2', 'a3']);
});

test('per-user running limit: a free slot is not given to a second job of the same user', async () => {
  const { queue, log, submit, finish, jobs } = setup({ concurrency: 2 });
  submit('a1', 'A');
  submit('a2', 'A');
  await settle();
  assert.deepEqual(log, ['a1']);
  assert.equal(queue.runningCount, 1);
  assert.equal(queue.position('a2'), 1);
  submit('b1', 'B'); // takes the free slot at once
  await settle();
  assert.deepEqual(log, ['a1', 'b1']);
  assert.equal(queue.position('b1'), 0);
  await finish('b1');
  assert.equal(jobs.get('a2')!.started, false, 'still waiting for a1');
  await finish('a1');
  assert.equal(jobs.get('a2')!.started, true);
  await finish('a2');
  assert.deepEqual(log, ['a1', 'b1', 'a2']);

  // maxRunningPerUser 2 lets one user run both at once.
  const two = setup({ concurrency: 2, maxRunningPerUser: 2 });
  two.submit('x1', 'X');
  two.submit('x2', 'X');
  await settle();
  assert.deepEqual(two.log, ['x1', 'x2']);
  await two.finish('x1');
  await two.finish('x2');
});

test('caps: per user, per server, queue length, with polite messages', async () => {
  const user = setup({ concurrency: 1, maxWaitingPerUser: 2 });
  user.submit('a1', 'A'); // runs
  user.submit('a2', 'A');
  user.submit('a3', 'A');
  assertQueueFull(() => user.submit('a4', 'A'), 'user', 'You already have 2 images waiting; wait for one to finish.');
  user.submit('b1', 'B'); // others are not affected
  const one = setup({ concurrency: 1, maxWaitingPerUser: 1 });
  one.submit('a1', 'A');
  one.submit('a2', 'A');
  assertQueueFull(() => one.submit('a3', 'A'), 'user', 'You already have 1 image waiting; wait for one to finish.');

  const guild = setup({ concurrency: 1, maxPerGuild: 2 });
  guild.submit('a1', 'A', 'g1'); // running counts too
  guild.submit('b1', 'B', 'g1');
  assertQueueFull(() => guild.submit('c1', 'C', 'g1'), 'guild', 'This server already has 2 images in the queue; try again when one finishes.');
  guild.submit('c1', 'C', 'g2');
  guild.submit('d1', 'D', null); // DMs have no server cap

  const full = setup({ concurrency: 1, maxQueueLength: 3 });
  full.submit('a1', 'A'); // running: not waiting
  full.submit('b1', 'B');
  full.submit('c1', 'C');
  full.submit('d1', 'D');
  assertQueueFull(() => full.submit('e1', 'E'), 'queue', 'The queue is full right now (3 waiting); try again in a few minutes.');
  await full.finish('a1');
  full.submit('e1', 'E'); // room again

  // A job that can start at once is accepted even with no room to wait.
  const none = setup({ concurrency: 1, maxQueueLength: 0 });
  none.submit('a1', 'A');
  assertQueueFull(() => none.submit('b1', 'B'), 'queue', 'The queue is full right now (0 waiting); try again in a few minutes.');

  const q = setup({ concurrency: 1 });
  q.submit('a1', 'A');
  assert.throws(() => q.submit('a1', 'B'), /already in the queue/);
  assert.throws(() => new JobQueue({ concurrency: 0 }), RangeError);
});

test('cancel a waiting job: removed, result rejects with CancelledError, runner never called', async () => {
  const { queue, log, submit, finish, handles, jobs } = setup({ concurrency: 1 });
  submit('a1', 'A');
  const b1 = submit('b1', 'B');
  submit('c1', 'C');
  assert.equal(queue.position('c1'), 2);
  assert.equal(b1.state, 'waiting');
  assert.equal(b1.cancel(), true);
  assert.equal(b1.cancel(), false);
  assert.equal(b1.state, 'cancelled');
  await assert.rejects(b1.result, (error: unknown) => error instanceof CancelledError && error.message === 'Cancelled.');
  assert.equal(queue.position('b1'), null);
  assert.equal(queue.position('c1'), 1);
  assert.equal(queue.cancel('c1', 'You cancelled it.'), true);
  await assert.rejects(handles.get('c1')!.result, /You cancelled it\./);
  assert.equal(queue.cancel('nope'), false);
  await finish('a1');
  assert.deepEqual(log, ['a1']);
  assert.equal(jobs.get('b1')!.started, false);
});

test('cancel a running job: its signal fires, result rejects, next starts when the runner returns', async () => {
  const { queue, log, submit, finish, jobs } = setup({ concurrency: 1 });
  const a1 = submit('a1', 'A', 'g1', false); // this runner ignores the signal at first
  submit('b1', 'B');
  await settle();
  assert.equal(a1.state, 'running');
  assert.equal(a1.cancel('Stopped.'), true);
  await assert.rejects(a1.result, (error: unknown) => error instanceof CancelledError && error.message === 'Stopped.');
  assert.equal(jobs.get('a1')!.sawAbort, true);
  await settle();
  assert.equal(jobs.get('b1')!.started, false, 'the slot is busy until the runner returns');
  assert.equal(queue.snapshot().running[0].cancelling, true);
  assert.equal(queue.position('a1'), null);
  jobs.get('a1')!.finish(); // the runner winds down; its value is discarded
  await settle();
  assert.deepEqual(log, ['a1', 'b1']);
  await finish('b1');

  // A runner that checks the signal stops at its next step.
  const steps: number[] = [];
  const q = new JobQueue();
  const h = q.submit({
    id: 's',
    userId: 'U',
    guildId: null,
    run: async (signal) => {
      for (let i = 0; ; i++) {
        signal.throwIfAborted();
        steps.push(i);
        await tick();
      }
    },
  });
  await settle();
  h.cancel();
  await assert.rejects(h.result, CancelledError);
  await settle();
  const n = steps.length;
  await settle();
  assert.equal(steps.length, n, 'stopped');
  assert.equal(q.runningCount, 0);
});

test('a runner that throws fails only its own job; the queue goes on', async () => {
  const { log, submit, finish, jobs, handles, queue } = setup({ concurrency: 1 });
  submit('a1', 'A');
  submit('b1', 'B');
  const sync = queue.submit({
    id: 'c1',
    userId: 'C',
    guildId: 'g1',
    run: () => {
      throw new TypeError('sync boom');
    },
  });
  submit('d1', 'D');
  await settle();
  jobs.get('a1')!.fail(new Error('GPU fell over'));
  await assert.rejects(handles.get('a1')!.result, /GPU fell over/);
  assert.equal(handles.get('a1')!.state, 'failed');
  await finish('b1');
  await assert.rejects(sync.result, /sync boom/);
  await settle();
  await finish('d1');
  assert.deepEqual(log, ['a1', 'b1', 'd1']);
});

test('onChange: coalesced snapshots; a throwing listener does not break the queue', async () => {
  const snapshots: QueueSnapshot[] = [];
  const { queue, submit, finish } = setup({ concurrency: 1, onChange: (s) => snapshots.push(s) });
  const unsubscribe = queue.subscribe(() => {
    throw new Error('listener bug');
  });
  submit('a1', 'A');
  submit('a2', 'A');
  submit('b1', 'B');
  await Promise.resolve();
  assert.equal(snapshots.length, 1, 'one call per burst');
  assert.deepEqual(snapshots[0].waiting.map((w) => w.id), ['b1', 'a2']);
  assert.deepEqual(snapshots[0].running.map((r) => r.id), ['a1']);
  await finish('a1');
  const last = snapshots.at(-1)!;
  assert.deepEqual(last.running.map((r) => r.id), ['b1']);
  assert.deepEqual(last.waiting.map((w) => [w.id, w.position]), [['a2', 1]]);
  unsubscribe();
  await finish('b1');
  await finish('a2');
  assert.deepEqual(snapshots.at(-1)!.running, []);
});

test('eta: from the average job time and the concurrency', async () => {
  let now = 0;
  const { queue, submit } = setup({ concurrency: 2, now: () => now, maxWaitingPerUser: 5 });
  submit('a1', 'A');
  now = 400;
  submit('b1', 'B');
  submit('c1', 'C');
  submit('d1', 'D');
  submit('e1', 'E');
  now = 1000;
  // a1 started at 0, b1 at 400; average 3000 ms.
  assert.deepEqual(queue.eta('a1', 3000), { position: 0, startsInMs: 0, finishesInMs: 2000 });
  assert.deepEqual(queue.eta('b1', 3000), { position: 0, startsInMs: 0, finishesInMs: 2400 });
  assert.deepEqual(queue.eta('c1', 3000), { position: 1, startsInMs: 2000, finishesInMs: 5000 });
  assert.deepEqual(queue.eta('d1', 3000), { position: 2, startsInMs: 2400, finishesInMs: 5400 });
  assert.deepEqual(queue.eta('e1', 3000), { position: 3, startsInMs: 5000, finishesInMs: 8000 });
  assert.equal(queue.eta('zz', 3000), null);
  await queue.drain({ waitMs: 0, graceMs: 50 });
});

test('maxRunMs: a job that runs too long is aborted with JobTimeoutError', async () => {
  const q = new JobQueue({ maxRunMs: 30 });
  const h = q.submit({
    id: 'slow',
    userId: 'U',
    guildId: null,
    run: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  });
  await assert.rejects(h.result, (error: unknown) => error instanceof JobTimeoutError && error.message === 'That took longer than 30 ms and was stopped.');
  assert.equal(new JobTimeoutError(10 * 60_000).message, 'That took longer than 10 minutes and was stopped.');
  assert.equal(h.state, 'failed');
  await settle();
  assert.equal(q.runningCount, 0);
});

test('drain: refuses new jobs, cancels waiting ones, lets running ones finish', async () => {
  const { queue, submit, jobs, handles } = setup({ concurrency: 1 });
  submit('a1', 'A');
  submit('b1', 'B');
  submit('c1', 'C');
  await settle();
  const draining = queue.drain({ waitMs: 2000 });
  assert.equal(queue.accepting, false);
  assert.throws(() => submit('d1', 'D'), (error: unknown) => error instanceof QueueClosedError && /restarting/.test(error.message));
  await assert.rejects(handles.get('b1')!.result, (e: unknown) => e instanceof CancelledError && /not started/.test(e.message));
  await assert.rejects(handles.get('c1')!.result, CancelledError);
  setTimeout(() => jobs.get('a1')!.finish(), 20);
  assert.deepEqual(await draining, { cancelledWaiting: 2, finished: 1, aborted: 0, stuck: 0 });
  assert.equal(await handles.get('a1')!.result, 'a1 done');
  assert.equal(jobs.get('b1')!.started, false);
  assert.deepEqual(queue.snapshot(), { concurrency: 1, accepting: false, running: [], waiting: [] });
});

test('drain: aborts running jobs after the wait; reports runners that never return', async () => {
  const { queue, submit, jobs, handles } = setup({ concurrency: 2 });
  submit('a1', 'A'); // honours the signal
  submit('b1', 'B', 'g1', false); // ignores it
  await settle();
  const started = performance.now();
  const result = await queue.drain({ waitMs: 30, graceMs: 30 });
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(result, { cancelledWaiting: 0, finished: 0, aborted: 2, stuck: 1 });
  assert.equal(jobs.get('a1')!.sawAbort, true);
  await assert.rejects(handles.get('a1')!.result, (e: unknown) => e instanceof CancelledError && /stopped/.test(e.message));
  await assert.rejects(handles.get('b1')!.result, CancelledError);
  jobs.get('b1')!.finish();
  await settle();
  assert.equal(queue.runningCount, 0);
});
