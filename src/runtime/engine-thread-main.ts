import { engineFacts } from '../pipeline/bundle-report/report.ts';
import { parentPort, workerData } from 'node:worker_threads';
import { Personalizer, type Generation, type SubjectImages } from '../pipeline/personalizer.ts';
import { CancelledError, InputError } from '../errors.ts';
import { embeddingGroupScorer } from '../scoring/group-scorer.ts';
import { loadScorers, type LoadedScorers } from '../scoring/load-scorers.ts';
import { countNativeRuns } from './native-runs.ts';
import type { EmbeddingScorerKind } from '../model-kinds.ts';
import type { DrawnGroupScores } from '../pipeline/candidate-group.ts';
import type { EngineInfo, FromWorker, ToWorker, WireGeneration, WorkerInit } from './protocol.ts';
import { toWireError } from './wire-error.ts';
import { firstLine } from '../util/first-line.ts';

/**
 * An engine worker (started by WorkerEngine through bootstrap.mjs): one Personalizer, its ONNX
 * sessions and every prepared subject's pixels live here, so session.run() never blocks the bot's
 * main thread. Requests may overlap; 'cancel' aborts one by id (the pipeline checks between steps,
 * and ONNX Runtime yields to this thread's event loop before every run, so a cancel gets in).
 */

if (!parentPort) throw new Error('engine-thread-main.ts must run in a worker thread (see WorkerEngine).');
const port = parentPort;
const init = workerData as WorkerInit;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

if (init.nativeRuns) countNativeRuns(new Int32Array(init.nativeRuns));

let personalizer: Personalizer;
try {
  personalizer = await Personalizer.load(init.modelDir, {
    device: init.device,
    dtypes: init.dtypes,
    intraOpThreads: init.intraOpThreads,
    preprocess: init.preprocess,
    visionCacheMb: init.visionCacheMb,
    prefixCacheMb: init.prefixCacheMb,
    maxBatchRows: init.maxBatchRows,
    graphCacheDir: init.graphCacheDir,
    matMulAccuracy: init.matMulAccuracy,
    onFallback: (reason) => post({ type: 'fallback', reason }),
  });
} catch (err) {
  // Messages posted before exit still reach the main thread (before its 'exit' event).
  post({ type: 'load_failed', error: toWireError(err) });
  process.exit(1);
}

const info: EngineInfo = {
  bundle: { dir: personalizer.bundle.dir, graphs: personalizer.bundle.graphs },
  device: personalizer.device,
  shape: personalizer.model.shape,
  kvAppendReason: personalizer.model.kvAppend ? undefined : personalizer.model.kvAppendReason,
  facts: engineFacts(personalizer.model, personalizer.bundle.graphs),
};

/** A prepared subject: its pixels, and its photos as received (what a group is scored against). */
interface HeldSubject {
  images: SubjectImages;
  photos: Uint8Array[];
}

/** Prepared subjects by handle; the main thread releases them when its job is done. */
const subjects = new Map<number, HeldSubject>();
let nextHandle = 1;
/** Requests in progress, by id. */
const running = new Map<number, AbortController>();
const inFlight = new Set<Promise<void>>();
let closing = false;
/** The embedding scorers, loaded at the first request that needs them. */
let scorers: Promise<LoadedScorers> | null = null;

function loadedScorers(): Promise<LoadedScorers> {
  const dir = init.scorerDir;
  if (!dir) return Promise.reject(new InputError('scorer_missing', 'No embedding scorers are configured (set SCORER_DIR to a folder with dino-vits16/ and clip-vit-base-patch32/).'));
  // On webgpu the scorers run on CPU: one thread's WebGPU sessions only (two threads crash Dawn).
  scorers ??= loadScorers(dir, { threads: init.intraOpThreads, device: init.device === 'cuda' ? 'cuda' : 'cpu' });
  // A failed load is tried again by the next request (the folder may be fixed meanwhile).
  scorers.catch(() => (scorers = null));
  return scorers;
}

function preparedSubject(handle: number): HeldSubject {
  const subject = subjects.get(handle);
  // The main thread never sends a handle it released, and handles die only with this worker.
  if (!subject) throw new Error(`engine worker: unknown subject handle ${handle}`);
  return subject;
}

/**
 * The group just drawn here, scored here: its images never leave this thread to be scored. A scorer
 * that fails (not loaded, a bad folder) leaves the group with why; a cancel throws.
 */
async function scoreDrawn(kind: EmbeddingScorerKind, generation: Generation, photos: readonly Uint8Array[], prompt: string, signal: AbortSignal): Promise<DrawnGroupScores> {
  const started = performance.now();
  try {
    const scorer = embeddingGroupScorer(await loadedScorers(), kind, init.scorerDir!);
    stopIfCancelled(signal);
    const scores = await scorer.score({ candidates: generation.images.map((i) => i.data), subjectPhotos: photos, prompt });
    stopIfCancelled(signal);
    return { scores, ms: performance.now() - started };
  } catch (err) {
    stopIfCancelled(signal);
    return { failed: firstLine(err) };
  }
}

/** A cancel (while scoring, or while photos were prepared) ends the request as the pipeline's steps end it: CancelledError, which crosses the thread by name (AbortSignal's DOMException does not), never an unranked group. */
function stopIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError();
}

/** Encoded images as transferable buffers of their own (never a pooled or shared one). */
function toWire(g: Generation, scoring?: DrawnGroupScores): { value: WireGeneration; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const images = g.images.map((img) => {
    const data = new ArrayBuffer(img.data.byteLength);
    new Uint8Array(data).set(img.data);
    transfer.push(data);
    return { data, format: img.format, width: img.width, height: img.height, imageTokens: img.imageTokens, seed: img.seed };
  });
  return { value: { images, promptTokens: g.promptTokens, timings: g.timings, ...(scoring ? { scoring } : {}) }, transfer };
}

async function serve(msg: Extract<ToWorker, { id: number; op: 'prepareImages' | 'ground' | 'generate' | 'judge' }>): Promise<void> {
  const controller = new AbortController();
  if (msg.aborted) controller.abort();
  running.set(msg.id, controller);
  const signal = controller.signal;
  try {
    switch (msg.op) {
      case 'prepareImages': {
        const images = await personalizer.prepareImages(msg.photos, msg.limits);
        // Cancelled meanwhile: nobody will use (or release) it.
        stopIfCancelled(signal);
        const handle = nextHandle++;
        subjects.set(handle, { images, photos: msg.photos.map((p) => p.bytes) });
        post({ type: 'result', id: msg.id, value: { handle, count: images.pixels.count } });
        break;
      }
      case 'ground': {
        const grounding = await personalizer.ground(preparedSubject(msg.handle).images, msg.context, {
          ...msg.options,
          signal,
          onText: msg.wantText ? (text) => post({ type: 'text', id: msg.id, text }) : undefined,
        });
        post({ type: 'result', id: msg.id, value: grounding });
        break;
      }
      case 'generate': {
        const subject = msg.handle === null ? null : preparedSubject(msg.handle);
        const generation = await personalizer.generate({
          ...msg.request,
          subject: subject?.images ?? null,
          signal,
          onStep: msg.wantSteps ? (done, total) => post({ type: 'step', id: msg.id, done, total }) : undefined,
        });
        const scoring = msg.scorer && subject ? await scoreDrawn(msg.scorer, generation, subject.photos, msg.request.prompt, signal) : undefined;
        const { value, transfer } = toWire(generation, scoring);
        post({ type: 'result', id: msg.id, value }, transfer);
        break;
      }
      case 'judge': {
        const judgement = await personalizer.judge(preparedSubject(msg.handle).images, msg.candidates, msg.prompt, { signal });
        post({ type: 'result', id: msg.id, value: judgement });
        break;
      }
    }
  } catch (err) {
    post({ type: 'error', id: msg.id, error: toWireError(err) });
  } finally {
    running.delete(msg.id);
  }
}

/** Ends this worker: cancels what runs, lets it stop (up to 5 s), releases the sessions, exits. */
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  for (const controller of running.values()) controller.abort();
  const deadline = performance.now() + 5000;
  while (inFlight.size > 0 && performance.now() < deadline) await Promise.race([...inFlight, new Promise((r) => setTimeout(r, 50))]);
  subjects.clear();
  // Sessions still in a run are left to the thread's end rather than released under it.
  if (inFlight.size === 0) {
    await personalizer.close().catch(() => {});
    const loaded = await scorers?.catch(() => null);
    await Promise.all([loaded?.dino?.release(), loaded?.clip?.release()]).catch(() => {});
  }
  process.exit(0);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.op) {
    case 'prepareImages':
    case 'ground':
    case 'generate':
    case 'judge':
      if (closing) post({ type: 'error', id: msg.id, error: toWireError(new Error('engine worker is closing')) });
      else {
        const done = serve(msg);
        inFlight.add(done);
        void done.finally(() => inFlight.delete(done));
      }
      break;
    case 'cancel':
      running.get(msg.id)?.abort();
      break;
    case 'release':
      subjects.delete(msg.handle);
      break;
    case 'close':
      void close();
      break;
    case 'ping':
      post({ type: 'pong' });
      break;
    case 'crash':
      // Test-only: die the ways a real worker can (WorkerEngine must fail its jobs and restart it).
      if (!init.testHooks) break;
      if (msg.mode === 'exit') process.exit(70);
      if (msg.mode === 'hang') {
        post({ type: 'hanging' });
        for (;;);
      }
      setImmediate(() => {
        throw new Error('engine worker: simulated crash');
      });
      break;
  }
});

post({ type: 'ready', info });
