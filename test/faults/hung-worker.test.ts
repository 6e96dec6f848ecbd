import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EngineStuckError } from '../../src/runtime/engine-errors.ts';
import { WorkerEngine, type EngineLogger, type WorkerEngineOptions } from '../../src/runtime/worker-engine.ts';
import { JobQueue, JobTimeoutError } from '../../src/jobs/in-process/job-queue.ts';
import { removeTinyBundles, tinyBundle } from '../helpers/tiny-bundle.ts';

// A worker spinning in JavaScript stands in for a session.run() that never returns: from the main
// thread both look the same (no answer to anything).

const PROMPT = 'a dog wearing a space suit on the moon';
const logs: { level: string; msg: string; obj: object }[] = [];
const logger: EngineLogger = {
  info: (obj, msg) => logs.push({ level: 'info', msg, obj }),
  warn: (obj, msg) => logs.push({ level: 'warn', msg, obj }),
  error: (obj, msg) => logs.push({ level: 'error', msg, obj }),
};
const engines: WorkerEngine[] = [];

async function startEngine(options: Partial<WorkerEngineOptions>): Promise<WorkerEngine> {
  const e = await WorkerEngine.start({ modelDir: tinyBundle(1), intraOpThreads: 1, testHooks: true, logger, ...options });
  engines.push(e);
  return e;
}

after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  removeTinyBundles();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

test('a worker that stops answering mid-job is replaced: the job fails with EngineStuckError, the next job is drawn', { timeout: 60_000 }, async () => {
  const e = await startEngine({ stallMs: 1500 });
  logs.length = 0;
  const started = performance.now();
  const err = await rejection(
    e.generate({
      prompt: PROMPT,
      seed: 0,
      onStep: (done) => {
        if (done === 3) e.simulateCrash(0, 'hang');
      },
    }),
  );
  const waitedMs = performance.now() - started;
  assert.ok(err instanceof EngineStuckError, String(err));
  assert.equal(err.code, 'engine_stuck');
  assert.ok(waitedMs < 15_000, `the stuck job was failed only after ${Math.round(waitedMs)} ms`);
  const replaced = logs.find((l) => l.msg === 'engine worker stopped responding; replacing it');
  assert.ok(replaced, JSON.stringify(logs));
  // Spinning in JavaScript, not inside a native run: the old thread could be terminated.
  assert.equal((replaced.obj as { inNativeRun: boolean }).inNativeRun, false);

  const g = await e.generate({ prompt: PROMPT, seed: 0 });
  assert.equal(g.images.length, 1);
  assert.equal(e.status()[0].restarts, 1);
  assert.equal(e.status()[0].state, 'ready');
});

test('the heartbeat replaces no worker that is idle or drawing normally', { timeout: 60_000 }, async (t) => {
  // One ONNX Runtime run of the tiny model blocks the worker far less than a second, even on a busy machine.
  const stallMs = 2000;
  const e = await startEngine({ stallMs });
  logs.length = 0;
  await new Promise((r) => setTimeout(r, 3 * stallMs));
  assert.equal(e.status()[0].restarts, 0);
  const started = performance.now();
  const g = await e.generate({ prompt: PROMPT, seed: 1, count: 2 });
  const tookMs = performance.now() - started;
  assert.equal(g.images.length, 2);
  assert.equal(e.status()[0].restarts, 0, JSON.stringify(logs));
  t.diagnostic(`the job took ${Math.round(tookMs)} ms against a stall limit of ${stallMs} ms`);
});

test("a job that hangs past the queue's run deadline ends with a timeout, its slot is freed for the next user's job, and the engine draws again", { timeout: 60_000 }, async () => {
  // The heartbeat is slow here, so it is the ignored cancel that gets the worker replaced.
  const e = await startEngine({ stallMs: 600_000, cancelGraceMs: 500 });
  const queue = new JobQueue({ concurrency: 1, maxRunMs: 4000 });
  logs.length = 0;
  const hung = queue.submit({
    id: 'hung',
    userId: 'alice',
    guildId: 'g',
    run: (signal) =>
      e.generate({
        prompt: PROMPT,
        seed: 2,
        signal,
        onStep: (done) => {
          if (done === 1) e.simulateCrash(0, 'hang');
        },
      }),
  });
  const next = queue.submit({ id: 'next', userId: 'bob', guildId: 'g', run: async () => 'started' });
  assert.equal(next.state, 'waiting');

  const err = await rejection(hung.result);
  assert.ok(err instanceof JobTimeoutError, String(err));
  assert.equal(await next.result, 'started');
  assert.equal(queue.snapshot().running.length, 0);
  assert.ok(logs.some((l) => l.msg === 'engine worker stopped responding; replacing it' && /after a cancel/.test((l.obj as { why: string }).why)), JSON.stringify(logs));
  const g = await e.generate({ prompt: PROMPT, seed: 3 });
  assert.equal(g.images.length, 1);
});

test('the supervisor sees when a worker is inside a native run: 1 during a generation, 0 between', { timeout: 60_000 }, async () => {
  const e = await startEngine({});
  assert.equal(e.status()[0].nativeRuns, 0);
  const seen = new Set<number>();
  const sampler = setInterval(() => seen.add(e.status()[0].nativeRuns), 1);
  await e.generate({ prompt: PROMPT, seed: 4 });
  clearInterval(sampler);
  assert.ok(seen.has(1), `never saw a run in progress: ${[...seen]}`);
  assert.ok(!seen.has(-1) && [...seen].every((n) => n === 0 || n === 1), `counts seen: ${[...seen]}`);
  assert.equal(e.status()[0].nativeRuns, 0);
});
