import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import sharp from 'sharp';
import { EngineClosedError, EngineCrashedError } from '../src/runtime/engine-errors.ts';
import { WorkerEngine, type EngineLogger, type WorkerEngineOptions } from '../src/runtime/worker-engine.ts';
import { BundleError, CancelledError, InputError, UserFacingError } from '../src/errors.ts';
import { ImageInputError } from '../src/images/errors.ts';
import { Personalizer, type GenerateRequest, type Generation } from '../src/pipeline/personalizer.ts';
import { removeTinyBundles, scratchDir, tinyBundle } from './helpers/tiny-bundle.ts';

const PROMPT = 'a dog wearing a space suit on the moon';
const TOKENS = 576;
const CRASHED = 'The image engine crashed while making this image; please try again.';

let dir: string;
let p: Personalizer;
let engine: WorkerEngine;
const logs: { level: string; msg: string; obj: object }[] = [];
const logger: EngineLogger = {
  info: (obj, msg) => logs.push({ level: 'info', msg, obj }),
  warn: (obj, msg) => logs.push({ level: 'warn', msg, obj }),
  error: (obj, msg) => logs.push({ level: 'error', msg, obj }),
};
const engines: WorkerEngine[] = [];

/** Same options as the in-process pipeline: one intra-op thread keeps runs identical and fast on small machines. */
async function startEngine(options: Partial<WorkerEngineOptions> = {}): Promise<WorkerEngine> {
  const e = await WorkerEngine.start({ modelDir: dir, intraOpThreads: 1, testHooks: true, restartDelayMs: { initial: 20, max: 200 }, logger, ...options });
  engines.push(e);
  return e;
}

before(async () => {
  dir = tinyBundle(1);
  [p, engine] = await Promise.all([Personalizer.load(dir, { intraOpThreads: 1 }), startEngine()]);
});
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await p?.close();
  removeTinyBundles();
});

/** In-process generations, by request (deterministic), the reference for the worker's. */
const memo = new Map<string, Promise<Generation>>();
function reference(request: GenerateRequest): Promise<Generation> {
  const key = JSON.stringify(request);
  let g = memo.get(key);
  if (!g) memo.set(key, (g = p.generate(request)));
  return g;
}

function assertSameImages(actual: Generation, expected: Generation, what: string): void {
  assert.equal(actual.images.length, expected.images.length, what);
  actual.images.forEach((img, i) => {
    const ref = expected.images[i];
    assert.ok(Buffer.isBuffer(img.data), `${what}: image ${i} data is not a Buffer`);
    assert.ok(img.data.equals(ref.data), `${what}: image ${i} bytes differ from in-process`);
    assert.deepEqual(img.imageTokens, ref.imageTokens, `${what}: image ${i} tokens differ`);
    assert.deepEqual([img.seed, img.format, img.width, img.height], [ref.seed, ref.format, ref.width, ref.height], what);
  });
  assert.equal(actual.promptTokens, expected.promptTokens, what);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

const photo = (r: number, g: number, b: number) =>
  sharp({ create: { width: 200, height: 120, channels: 3, background: { r, g, b } } })
    .composite([{ input: { create: { width: 60, height: 40, channels: 3, background: '#ffffff' } }, left: 20, top: 10 }])
    .png()
    .toBuffer();

// ---- same results as in-process ----------------------------------------------------------------

test('generate through the worker is byte-identical to in-process (PNG, WebP, count 2), steps forwarded', async () => {
  assert.equal(engine.bundle.dir, dir);
  assert.equal(engine.device, 'cpu');
  assert.deepEqual(engine.shape, p.model.shape);
  for (const request of [{ prompt: PROMPT, seed: 0 }, { prompt: PROMPT, seed: 7, format: 'webp' as const }, { prompt: PROMPT, seed: 2 ** 32 - 1, count: 2 }]) {
    const steps: [number, number][] = [];
    const refSteps: [number, number][] = [];
    const [g, ref] = await Promise.all([
      engine.generate({ ...request, onStep: (d, t) => steps.push([d, t]) }),
      p.generate({ ...request, onStep: (d, t) => refSteps.push([d, t]) }),
    ]);
    memo.set(JSON.stringify(request), Promise.resolve(ref));
    assertSameImages(g, ref, JSON.stringify(request));
    assert.equal(g.images[0].imageTokens.length, TOKENS);
    assert.deepEqual(steps, refSteps, 'progress events differ');
    assert.ok(g.timings.tokensMs > 0 && g.timings.decodeMs > 0);
  }
});

test('concurrent requests to one worker are drawn together and each equals its in-process run alone', async () => {
  const requests = [{ prompt: PROMPT, seed: 21 }, { prompt: 'a red mug on a table by a window', seed: 22, count: 2 }, { prompt: 'a cat', seed: 23, cfgWeight: 2 }];
  const alone: Generation[] = [];
  for (const r of requests) alone.push(await p.generate(r));
  const together = await Promise.all(requests.map((r) => engine.generate(r)));
  together.forEach((g, i) => assertSameImages(g, alone[i], JSON.stringify(requests[i])));
});

test('a subject: prepare, ground (text streamed) and generate in the worker equal in-process; its pixels are freed', async () => {
  const photos = [{ bytes: await photo(250, 40, 40), name: 'rex.png' }, { bytes: await photo(30, 90, 220), name: 'rex2.png' }];
  const before = photos.map((ph) => Buffer.from(ph.bytes));
  const subject = await engine.prepareImages(photos);
  assert.equal(subject.count, 2);
  assert.ok(photos.every((ph, i) => ph.bytes.equals(before[i])), "the caller's photo buffers were changed or detached");
  assert.equal(engine.status()[0].subjects, 1);

  const texts: string[] = [];
  const refTexts: string[] = [];
  const refSubject = await p.prepareImages(photos);
  const context = { name: 'Rex', context: 'he loves the beach' };
  const g = await engine.ground(subject, context, { maxNewTokens: 16, onText: (t) => texts.push(t) });
  const ref = await p.ground(refSubject, context, { maxNewTokens: 16, onText: (t) => refTexts.push(t) });
  assert.deepEqual(g.tokenIds, ref.tokenIds);
  assert.equal(g.text, ref.text);
  assert.deepEqual(texts, refTexts, 'onText events differ');
  assert.ok(texts.length > 0);

  const request = { prompt: PROMPT, subjectContext: { name: 'Rex' }, grounding: g.text, seed: 3 };
  const [image, refImage] = await Promise.all([engine.generate({ ...request, subject }), p.generate({ ...request, subject: refSubject })]);
  assertSameImages(image, refImage, 'with a subject');
  assert.ok(image.promptTokens > 2 * TOKENS);

  engine.releaseImages(subject);
  assert.equal(engine.status()[0].subjects, 0);
  await assert.rejects(engine.ground(subject, context), /released/);
});

test("the worker's errors arrive as the same classes and codes", async () => {
  const bad = await rejection(engine.generate({ prompt: PROMPT, cfgWeight: 0 }));
  assert.ok(bad instanceof InputError && bad.code === 'invalid_option', String(bad));
  assert.equal(bad.message, 'Guidance must be between 1 and 20.');

  const tag = p.bundle.processor.image_tag;
  const reserved = await rejection(engine.generate({ prompt: `a ${tag} dog` }));
  assert.ok(reserved instanceof InputError && reserved.code === 'reserved_token', String(reserved));

  const notImage = await rejection(engine.prepareImages([{ bytes: Buffer.from('just some notes\n'), name: 'notes.txt' }]));
  assert.ok(notImage instanceof ImageInputError && notImage.code === 'unsupported_format', String(notImage));
  assert.match(notImage.message, /notes\.txt is not an image/);
  const none = await rejection(engine.prepareImages([]));
  assert.ok(none instanceof InputError && none.code === 'no_images');

  const ac = new AbortController();
  ac.abort();
  const steps: number[] = [];
  const cancelled = await rejection(engine.generate({ prompt: PROMPT, signal: ac.signal, onStep: (d) => steps.push(d) }));
  assert.ok(cancelled instanceof CancelledError, String(cancelled));
  assert.deepEqual(steps, []);
  assert.deepEqual(engine.status().map((s) => s.pending), [0]);
});

// ---- cancelling ---------------------------------------------------------------------------------

test('aborting from onStep after 10 steps cancels the run in the worker; no steps are reported after it', async () => {
  const ac = new AbortController();
  const steps: number[] = [];
  const started = performance.now();
  const err = await rejection(
    engine.generate({
      prompt: PROMPT,
      seed: 1,
      signal: ac.signal,
      onStep: (done) => {
        steps.push(done);
        if (done === 10) ac.abort();
      },
    }),
  );
  assert.ok(err instanceof CancelledError, String(err));
  assert.deepEqual(steps, Array.from({ length: 10 }, (_, i) => i + 1));
  assert.deepEqual(engine.status().map((s) => s.pending), [0], 'the request is still pending in the worker');
  assert.ok(performance.now() - started < 5000);

  // Grounding too, from onText.
  const subject = await engine.prepareImages([{ bytes: await photo(10, 200, 10) }]);
  const ac2 = new AbortController();
  let calls = 0;
  const err2 = await rejection(
    engine.ground(subject, {}, {
      maxNewTokens: 40,
      signal: ac2.signal,
      onText: () => {
        if (++calls === 3) ac2.abort();
      },
    }),
  );
  assert.ok(err2 instanceof CancelledError, String(err2));
  assert.equal(calls, 3);
  engine.releaseImages(subject);

  // The worker goes on.
  assertSameImages(await engine.generate({ prompt: PROMPT, seed: 0 }), await reference({ prompt: PROMPT, seed: 0 }), 'after cancels');
});

// ---- the main thread stays free --------------------------------------------------------------------

test("the main thread's event loop stays responsive while the worker generates", async (t) => {
  const request = { prompt: PROMPT, seed: 11, count: 2 };
  const measure = async (run: () => Promise<unknown>) => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    await run();
    h.disable();
    return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
  };
  const inProcess = await measure(() => reference(request));
  const worker = await measure(() => engine.generate(request));
  t.diagnostic(`event loop delay, in-process: p99 ${inProcess.p99.toFixed(1)} ms, max ${inProcess.max.toFixed(1)} ms`);
  t.diagnostic(`event loop delay, worker:     p99 ${worker.p99.toFixed(1)} ms, max ${worker.max.toFixed(1)} ms`);
  assert.ok(worker.p99 < 50, `event loop p99 ${worker.p99.toFixed(1)} ms while the worker generated`);
});

// ---- crashes --------------------------------------------------------------------------------------

for (const mode of ['terminate', 'exit', 'throw'] as const) {
  test(`a worker killed mid-job (${mode}) fails that job with a clear error, is restarted, and the next job succeeds`, async () => {
    const e = await startEngine();
    const subject = await e.prepareImages([{ bytes: await photo(200, 200, 0) }]);
    logs.length = 0;
    const steps: number[] = [];
    const err = await rejection(
      e.generate({
        prompt: PROMPT,
        seed: 0,
        onStep: (done) => {
          steps.push(done);
          if (done === 5) e.simulateCrash(0, mode);
        },
      }),
    );
    assert.ok(err instanceof EngineCrashedError && err instanceof UserFacingError, `${mode}: ${String(err)}`);
    assert.equal(err.message, CRASHED);
    assert.equal(err.code, 'engine_crashed');
    assert.ok(steps.length >= 5 && steps.length < TOKENS, `${steps.length} steps`);
    assert.ok(logs.some((l) => l.level === 'error' && l.msg === 'engine worker died; restarting it'), JSON.stringify(logs));

    // The subject's pixels died with the worker.
    const gone = await rejection(e.ground(subject, {}));
    assert.ok(gone instanceof EngineCrashedError, String(gone));

    // The next job waits for the restart and succeeds.
    const g = await e.generate({ prompt: PROMPT, seed: 0 });
    assertSameImages(g, await reference({ prompt: PROMPT, seed: 0 }), `after ${mode}`);
    assert.equal(e.status()[0].restarts, 1);
    assert.equal(e.status()[0].state, 'ready');
    assert.ok(logs.some((l) => l.msg === 'engine worker restarted'));
    await e.close();
  });
}

test('two workers: concurrent jobs run on different workers; a crash of one leaves the other job alone', async () => {
  const e = await startEngine({ workers: 2 });
  const spread = [0, 5].map((seed) => e.generate({ prompt: PROMPT, seed }));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(e.status().map((s) => s.pending), [1, 1], 'both jobs went to one worker');
  const [a, b] = await Promise.all(spread);
  assertSameImages(a, await reference({ prompt: PROMPT, seed: 0 }), 'worker 1 of 2');
  assertSameImages(b, await reference({ prompt: PROMPT, seed: 5 }), 'worker 2 of 2');

  // A subject pins its worker, so the next text-only job goes to the other one.
  const subject = await e.prepareImages([{ bytes: await photo(90, 90, 90) }]);
  const pinned = e.status().findIndex((s) => s.subjects === 1);
  const other = 1 - pinned;
  let crashed = false;
  const victim = e.generate({
    prompt: PROMPT,
    seed: 0,
    onStep: (d) => {
      if (d === 3 && !crashed) {
        crashed = true;
        e.simulateCrash(other, 'exit');
      }
    },
  });
  const survivor = e.generate({ prompt: PROMPT, seed: 5, subject: null });
  assert.ok((await rejection(victim)) instanceof EngineCrashedError);
  assertSameImages(await survivor, await reference({ prompt: PROMPT, seed: 5 }), 'the other worker');
  assert.equal(e.status()[pinned].subjects, 1, "the other worker's subject survived");
  const g = await e.ground(subject, {}, { maxNewTokens: 4 });
  assert.ok(g.tokenIds.length > 0);
  await e.close();
});

// ---- start and close ------------------------------------------------------------------------------

test('two workers: the same photos go back to the worker that prepared them (its caches know them)', async () => {
  const e = await startEngine({ workers: 2 });
  const bytes = await photo(10, 150, 60);
  const first = await e.prepareImages([{ bytes }]);
  const home = e.status().findIndex((s) => s.subjects === 1);
  e.releaseImages(first);
  for (let i = 0; i < 3; i++) {
    const again = await e.prepareImages([{ bytes }]);
    assert.equal(e.status().findIndex((s) => s.subjects === 1), home, `repeat ${i + 1} went to the other worker`);
    e.releaseImages(again);
  }
  // Other photos still spread to the idle worker.
  const kept = await e.prepareImages([{ bytes }]);
  const other = await e.prepareImages([{ bytes: await photo(200, 10, 10) }]);
  assert.deepEqual(e.status().map((s) => s.subjects), [1, 1]);
  e.releaseImages(kept);
  e.releaseImages(other);
  await e.close();
});

test('start with a missing bundle throws the BundleError from the worker', async () => {
  const err = await rejection(WorkerEngine.start({ modelDir: scratchDir('missing'), intraOpThreads: 1 }));
  assert.ok(err instanceof BundleError && err.code === 'bundle_missing', String(err));
});

test('close ends the workers: a running job stops with a user-facing error, later calls are refused', async () => {
  const e = await startEngine();
  const running = rejection(e.generate({ prompt: PROMPT, seed: 0 }));
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  await e.close();
  assert.ok(performance.now() - started < 5000);
  const err = await running;
  assert.ok(err instanceof CancelledError || err instanceof EngineClosedError, String(err));
  assert.ok((await rejection(e.generate({ prompt: PROMPT }))) instanceof EngineClosedError);
  assert.deepEqual(e.status().map((s) => s.state), ['closed']);
});
