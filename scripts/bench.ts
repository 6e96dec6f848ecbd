import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { AutoProcessor, MultiModalityCausalLM, env } from '@huggingface/transformers';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { Personalizer } from '../src/pipeline/personalizer.ts';
import { WorkerEngine } from '../src/runtime/worker-engine.ts';
import sharp from 'sharp';
import ort from 'onnxruntime-node';
import { GRAPH_IO } from '../src/bundle/contract.ts';
import { benchCandidates } from './bench-candidates.ts';

/**
 * Our pipeline against transformers.js' MultiModalityCausalLM on the same bundle, in one process
 * run, same inputs: greedy text-to-image with guidance 5 (transformers.js' uncond convention, so
 * both do the same work). Figures go to stdout and, with --json, to a file.
 */
const USAGE =
  'Usage: npm run bench -- [--bundle DIR] [--quick] [--steps N] [--json FILE] [--speed-only] [--exact] [--candidates [--scorers DIR]]\n' +
  '--steps N times the first N image tokens (prefill included) instead of whole images, for big bundles.\n' +
  '--speed-only: only batch 1 and 4 requests, ours against transformers.js (no load, first-token, step-cost or event-loop figures);\n' +
  'ours also at the file\'s own MatMulNBits accuracy level when the engine runs another.\n' +
  '--exact: ours at the file\'s own accuracy level only (as personalize --exact).\n' +
  '--candidates: only the group figure instead: draw 4 candidates, then score them (embedding scorers from --scorers, and the self-judge).\n' +
  '--device webgpu|cpu[,...]: per-step time, bytes across the host per step and tokens/s per device instead (npm run bench -- --device webgpu --help).';
const PROMPT = 'a dog wearing a space suit on the moon';
/** Four jobs of different lengths for the concurrency figure (ours: batched together; reference: in turn). */
const PROMPTS = [PROMPT, 'a red mug on a wooden table', 'the same dog asleep on a sofa in a sunny living room, watercolour', 'a cat'];

async function main(): Promise<void> {
  // --device: the per-device decode figures instead (scripts/bench-device.ts).
  if (process.argv.slice(2).some((a) => a === '--device' || a.startsWith('--device='))) {
    const { benchDevicesMain } = await import('./bench-device.ts');
    return benchDevicesMain(process.argv.slice(2));
  }
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string' }, quick: { type: 'boolean' }, steps: { type: 'string' }, json: { type: 'string' }, candidates: { type: 'boolean' }, scorers: { type: 'string' },
      'speed-only': { type: 'boolean' }, exact: { type: 'boolean' }, help: { type: 'boolean' },
    },
  });
  const stepLimit = values.steps === undefined ? undefined : Number(values.steps);
  if (stepLimit !== undefined && !(Number.isInteger(stepLimit) && stepLimit > 0)) throw new Error('--steps takes a positive whole number');
  if (values.help) return void console.log(USAGE);
  let dir = values.bundle;
  let temp: string | undefined;
  if (!dir) {
    temp = mkdtempSync(join(tmpdir(), 'bench-'));
    dir = join(temp, 'tiny');
    makeBundle({ out: dir, seed: 1, dims: TINY_DIMS });
  }
  try {
    const repeats = values.quick ? 1 : 3;
    const results = values.candidates
      ? await benchCandidates(dir, values.scorers)
      : values['speed-only'] ? await speedOnly(dir, repeats, stepLimit, values.exact === true) : await run(dir, repeats, stepLimit);
    console.log(JSON.stringify(results, null, 2));
    if (values.json) await writeFile(values.json, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

async function run(dir: string, repeats: number, stepLimit?: number) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);

  const load = await loadCost(dir);
  const ours = await Personalizer.load(dir);
  const perImage = ours.model.shape.imageTokens;
  const steps = Math.min(stepLimit ?? perImage, perImage);
  // transformers.js' uncond row (attention 0 everywhere) cannot run on GroupQueryAttention: there
  // both engines draw without guidance (one row per image) so that they still do the same work.
  const guidance = ours.model.allowsUnattendedRows ? 5 : 1;
  const opts = { prompt: PROMPT, greedy: true, cfgWeight: guidance, uncond: 'transformers-js' as const, seed: 1 };
  /** ms for `steps` image tokens of `count` images (prefill included), stopping early when steps < 576. */
  const oursRun = async (count: number, prompt = PROMPT, t0 = performance.now()): Promise<{ ms: number; promptTokens: number }> => {
    const ac = new AbortController();
    let ms = 0;
    const r = await ours
      .generate({ ...opts, prompt, count, signal: ac.signal, onStep: (done) => {
        if (done === steps) {
          ms = performance.now() - t0;
          if (steps < perImage) ac.abort();
        }
      } })
      .catch(() => null);
    return { ms, promptTokens: r?.promptTokens ?? 0 };
  };
  await oursRun(1); // warm-up
  const firstToken = await subjectFirstToken(ours, repeats);
  const promptTokens = ours.tokenizer.prompt('text_to_image', [{ role: '<|User|>', content: PROMPT }], 0).ids.length;
  const traffic = stepTraffic(ours, dir, promptTokens);
  const kvCost = await kvStepCost(ours, promptTokens, repeats);
  const bandwidth = await memoryBandwidth();

  loop.enable();
  const oursBatch1 = await best(repeats, async () => (await oursRun(1)).ms);
  loop.disable();
  // Four requests at once: the engine batches them (continuous batching, left-padded prompts).
  const oursBatch4 = await best(repeats, async () => {
    const t0 = performance.now();
    const runs = await Promise.all(PROMPTS.map((prompt) => oursRun(1, prompt, t0)));
    return Math.max(...runs.map((x) => x.ms));
  });
  // The reference loads the very same files: the dtype variant each of our graphs uses.
  const dtype = Object.fromEntries(Object.entries(ours.bundle.graphs).map(([g, v]) => [g, v.dtype]));
  await ours.close();

  // The bot's configuration: the same generation in a worker thread, main-thread delay measured.
  const engine = await WorkerEngine.start({ modelDir: dir });
  const workerLoop = monitorEventLoopDelay({ resolution: 1 });
  workerLoop.enable();
  {
    const ac = new AbortController();
    await engine
      .generate({ ...opts, signal: ac.signal, onStep: (done) => void (done === steps && steps < perImage && ac.abort()) })
      .catch(() => null);
  }
  workerLoop.disable();
  await engine.close();

  const { batch1: refBatch1, sequential4: ref4 } = await referenceTimes(dir, dtype, { steps, perImage, guidance }, repeats);
  clearInterval(rssTimer);

  const tps = (tokens: number, ms: number) => round((tokens * 1000) / ms);
  const floorMs = (traffic.weightBytes / bandwidth) * 1000;
  return {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: round(totalmem() / 2 ** 30), node: process.version },
    bundle: dir,
    attention: ours.model.attention,
    kvStrategy: ours.model.kvStrategy,
    guidance,
    dtypes: dtype,
    imageTokensTimed: steps,
    ours: { imageTokensPerSec: tps(steps, oursBatch1), ms: round(oursBatch1) },
    reference: { imageTokensPerSec: tps(steps, refBatch1), ms: round(refBatch1) },
    batch1: { speedup: round(refBatch1 / oursBatch1) },
    batch4: { oursAggregateTokensPerSec: tps(4 * steps, oursBatch4), referenceSequentialTokensPerSec: tps(4 * steps, ref4), aggregateSpeedup: round(ref4 / oursBatch4) },
    cachedSubject: {
      coldFirstTokenMs: round(firstToken.cold),
      cachedFirstTokenMs: round(firstToken.cached),
      firstTokenRatio: round(firstToken.cached / firstToken.cold),
      groundingOnlyFirstTokenMs: round(firstToken.groundingOnly),
    },
    step: {
      msPerStep: round(oursBatch1 / steps),
      weightBytes: traffic.weightBytes,
      kvBytesInOutMid: traffic.kvBytes,
      memoryBandwidthGBs: round(bandwidth / 1e9),
      floorMsPerStep: round(floorMs),
      ratioToFloor: round(oursBatch1 / steps / floorMs),
      ...kvCost,
    },
    eventLoop: {
      p99Ms: round(workerLoop.percentile(99) / 1e6),
      maxMs: round(workerLoop.max / 1e6),
      inProcessP99Ms: round(loop.percentile(99) / 1e6),
      inProcessMaxMs: round(loop.max / 1e6),
    },
    peakRssMb: round(peakRss / 2 ** 20),
    load,
  };
}

/**
 * Batch 1 and four requests at once, ours against transformers.js on the same files and steps (as
 * run() measures them), plus, when the engine runs the 4-bit layers at another accuracy level than
 * the file's, ours at the file's own level: what the level alone is worth.
 */
async function speedOnly(dir: string, repeats: number, stepLimit: number | undefined, exact: boolean) {
  const started = performance.now();
  const loadAvg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  const loadBefore = loadAvg();
  const measureOurs = async (matMulAccuracy: 'fastest' | 'file') => {
    const ours = await Personalizer.load(dir, { matMulAccuracy });
    try {
      const perImage = ours.model.shape.imageTokens;
      const steps = Math.min(stepLimit ?? perImage, perImage);
      const guidance = ours.model.allowsUnattendedRows ? 5 : 1;
      const once = async (prompt: string, t0: number) => {
        const ac = new AbortController();
        let ms = 0;
        await ours
          .generate({ prompt, greedy: true, cfgWeight: guidance, uncond: 'transformers-js', seed: 1, signal: ac.signal, onStep: (done) => {
            if (done === steps) {
              ms = performance.now() - t0;
              if (steps < perImage) ac.abort();
            }
          } })
          .catch(() => null);
        return ms;
      };
      await once(PROMPT, performance.now()); // warm-up
      const batch1 = await best(repeats, () => once(PROMPT, performance.now()));
      const batch4 = await best(repeats, async () => {
        const t0 = performance.now();
        return Math.max(...(await Promise.all(PROMPTS.map((p) => once(p, t0)))));
      });
      const dtypes = Object.fromEntries(Object.entries(ours.bundle.graphs).map(([g, v]) => [g, v.dtype]));
      // A fixed 16-position input from an empty past: its last hidden state, to compare levels.
      const H = ours.model.shape.hidden;
      const x = new ort.Tensor('float32', Float32Array.from({ length: 16 * H }, (_, i) => Math.sin(i * 0.37)), [1, 16, H]);
      const hidden = Float32Array.from((await ours.model.decode(x, ours.model.emptyCache(1), new BigInt64Array(16).fill(1n))).hidden.data as Float32Array);
      return { batch1, batch4, steps, perImage, guidance, dtypes, hidden, model: ours.model };
    } finally {
      await ours.close();
    }
  };
  const main = await measureOurs(exact ? 'file' : 'fastest');
  const matMul = main.model.matMul;
  const atFileLevel = !exact && matMul?.runs !== null && matMul?.runs !== undefined ? await measureOurs('file') : null;
  const { steps, perImage, guidance } = main;

  const { batch1: refBatch1, sequential4: ref4 } = await referenceTimes(dir, main.dtypes, { steps, perImage, guidance }, repeats);
  const tps = (tokens: number, ms: number) => round((tokens * 1000) / ms);
  const drift = (a: Float32Array, b: Float32Array) => {
    let diff = 0;
    let norm = 0;
    let max = 0;
    for (let i = 0; i < a.length; i++) {
      diff += (a[i] - b[i]) ** 2;
      norm += b[i] ** 2;
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return { relativeRms: Number(Math.sqrt(diff / norm).toExponential(2)), maxAbs: Number(max.toExponential(2)), finite: a.every(Number.isFinite) };
  };
  return {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: round(totalmem() / 2 ** 30), node: process.version },
    load1min: { before: loadBefore, after: loadAvg() },
    minutes: round((performance.now() - started) / 60000),
    bundle: dir,
    attention: main.model.attention,
    variant: main.model.attentionVariant,
    matMul,
    guidance,
    imageTokensTimed: steps,
    ours: { imageTokensPerSec: tps(steps, main.batch1), batch4AggregateTokensPerSec: tps(4 * steps, main.batch4) },
    ...(atFileLevel ? { hiddenStatesVsFileLevel: drift(main.hidden, atFileLevel.hidden) } : {}),
    ...(atFileLevel ? { oursAtFileLevel: { imageTokensPerSec: tps(steps, atFileLevel.batch1), batch4AggregateTokensPerSec: tps(4 * steps, atFileLevel.batch4) } } : {}),
    reference: { imageTokensPerSec: tps(steps, refBatch1), sequential4TokensPerSec: tps(4 * steps, ref4) },
    batch1: { speedup: round(refBatch1 / main.batch1), ...(atFileLevel ? { speedupAtFileLevel: round(refBatch1 / atFileLevel.batch1) } : {}) },
    batch4: { aggregateSpeedup: round(ref4 / main.batch4), ...(atFileLevel ? { aggregateSpeedupAtFileLevel: round(ref4 / atFileLevel.batch4) } : {}) },
  };
}

/**
 * What loading the model costs, each load in a child process of its own (its peak RSS is its own):
 * the first load with an empty rewrite cache (the language model read, decoded and rewritten), a
 * second load from that cache, and the file loaded as it is (no rewrite).
 */
async function loadCost(dir: string) {
  const cache = mkdtempSync(join(tmpdir(), 'bench-graph-cache-'));
  const probe = (mode: 'rewrite' | 'plain') =>
    new Promise<{ ms: number; peakRssMb: number; kvStrategy: string }>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'load-probe.ts'), dir, cache, mode], { maxBuffer: 2 ** 20 }, (err, stdout) => {
        if (err) reject(err);
        else resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      });
    });
  try {
    const firstLoad = await probe('rewrite');
    const cachedLoad = await probe('rewrite');
    const plainLoad = await probe('plain');
    return { firstLoad, cachedLoad, plainLoad };
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

/**
 * Time to the first image token of an X-CoT request with two photos: cold (photos, grounding,
 * prefill, engine caches emptied), with the subject known (grounding cached by the bot, photos'
 * features and prompt prefix cached by the engine), and with only the grounding cached.
 */
async function subjectFirstToken(p: Personalizer, repeats: number): Promise<{ cold: number; cached: number; groundingOnly: number }> {
  const photo = (c: string) => sharp({ create: { width: 320, height: 240, channels: 3, background: c } }).jpeg().toBuffer();
  const photos = [{ bytes: await photo('#a05020'), name: 'a.jpg' }, { bytes: await photo('#3080c0'), name: 'b.jpg' }];
  const untilFirstToken = async (grounding: string | null, emptyCaches: boolean): Promise<number> => {
    if (emptyCaches) p.clearCaches();
    const t0 = performance.now();
    const subject = await p.prepareImages(photos);
    const text = grounding ?? (await p.ground(subject, { name: 'Rex' }, { maxNewTokens: 32 })).text;
    const ac = new AbortController();
    let first = 0;
    await p
      .generate({ prompt: PROMPT, subject, grounding: text, seed: 1, signal: ac.signal, onStep: () => {
        first ||= performance.now() - t0;
        ac.abort();
      } })
      .catch(() => {});
    return first;
  };
  const cold = await best(repeats, () => untilFirstToken(null, true));
  const g = await p.ground(await p.prepareImages(photos), { name: 'Rex' }, { maxNewTokens: 32 });
  const groundingOnly = await best(repeats, () => untilFirstToken(g.text, true));
  await untilFirstToken(g.text, false);
  const cached = await best(repeats, () => untilFirstToken(g.text, false));
  return { cold, cached, groundingOnly };
}

/**
 * What one decode step reads: the weights of the graphs run per step, and the KV cache copied in
 * and out of the runtime (both CFG rows, halfway through an image).
 */
function stepTraffic(p: Personalizer, dir: string, promptTokens: number): { weightBytes: number; kvBytes: number } {
  const perStepGraphs = ['language_model', 'gen_head', 'gen_img_embeds'] as const;
  let weightBytes = 0;
  for (const g of perStepGraphs) {
    const file = p.bundle.graphs[g].path;
    const name = file.split('/').pop()!;
    for (const f of readdirSync(join(dir, 'onnx'))) if (f === name || f.startsWith(`${name}_data`)) weightBytes += statSync(join(dir, 'onnx', f)).size;
  }
  const s = p.model.shape;
  const t = promptTokens + s.imageTokens / 2;
  const kvBytes = 2 * s.layers * 2 * s.kvHeads * s.headDim * 4 * (2 * t + 1);
  return { weightBytes, kvBytes };
}

/**
 * What the KV cache costs one decoder step (2 guidance rows, halfway through an image), timed on
 * a second session of the same language model file: the step with every output fetched (what the
 * engine does), the same step fetching only the hidden states (so onnxruntime-node does not copy
 * the present cache out to JavaScript), and a step with an empty past (no cache at all).
 */
async function kvStepCost(p: Personalizer, promptTokens: number, repeats: number) {
  const io = GRAPH_IO.language_model;
  const session = await ort.InferenceSession.create(p.bundle.graphs.language_model.path);
  try {
    const s = p.model.shape;
    const meta = session.inputMetadata.find((m) => m.name === io.pastKey(0));
    if (!meta?.isTensor || meta.type !== 'float32') return { kvCopyOutMs: null };
    const feedsAt = (past: number) => {
      const feeds: Record<string, ort.Tensor> = {
        [io.inputsEmbeds]: new ort.Tensor('float32', new Float32Array(2 * s.hidden).fill(0.01), [2, 1, s.hidden]),
        [io.attentionMask]: new ort.Tensor('int64', new BigInt64Array(2 * (past + 1)).fill(1n), [2, past + 1]),
      };
      if (session.inputNames.includes(io.positionIds)) feeds[io.positionIds] = new ort.Tensor('int64', BigInt64Array.of(BigInt(past), BigInt(past)), [2, 1]);
      for (let i = 0; i < s.layers; i++) {
        for (const name of [io.pastKey(i), io.pastValue(i)]) {
          feeds[name] = new ort.Tensor('float32', new Float32Array(2 * s.kvHeads * past * s.headDim).fill(0.01), [2, s.kvHeads, past, s.headDim]);
        }
      }
      return feeds;
    };
    const time = (feeds: Record<string, ort.Tensor>, fetches?: string[]) =>
      best(Math.max(3, repeats), async () => {
        const t0 = performance.now();
        await (fetches ? session.run(feeds, fetches) : session.run(feeds));
        return performance.now() - t0;
      });
    const mid = feedsAt(promptTokens + s.imageTokens / 2);
    const all = await time(mid);
    const hiddenOnly = await time(mid, [io.hiddenStates]);
    const noPast = await time(feedsAt(0));
    return {
      stepAllOutputsMs: round(all),
      stepHiddenOnlyMs: round(hiddenOnly),
      kvCopyOutMs: round(all - hiddenOnly),
      stepEmptyPastMs: round(noPast),
      kvAttentionAndConcatMs: round(hiddenOnly - noPast),
    };
  } finally {
    await session.release();
  }
}

/**
 * Read bandwidth of the whole machine, bytes/s: one thread per core, each comparing two equal
 * buffers far larger than the caches (memcmp: reads only, vectorized), all started together; the
 * bytes read by all of them over the slowest one's time. A decoder step reads its weights from
 * every core at once, so a one-core copy would understate what the step can use.
 */
async function memoryBandwidth(): Promise<number> {
  const threads = cpus().length;
  const size = 128 * 2 ** 20;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const a = Buffer.alloc(workerData.size, 1);
    const b = Buffer.alloc(workerData.size, 1);
    const flag = new Int32Array(workerData.start);
    a.compare(b);
    parentPort.postMessage('ready');
    Atomics.wait(flag, 0, 0);
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      if (a.compare(b) !== 0) throw new Error('buffers differ');
      best = Math.min(best, performance.now() - t0);
    }
    parentPort.postMessage(best);
  `;
  const start = new SharedArrayBuffer(4);
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData: { size, start } }));
  const messages = workers.map((w) => {
    const queue: unknown[] = [];
    const waiting: ((v: unknown) => void)[] = [];
    w.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
    return () => new Promise((resolve, reject) => {
      w.once('error', reject);
      if (queue.length) resolve(queue.shift());
      else waiting.push(resolve);
    });
  });
  try {
    await Promise.all(messages.map((next) => next()));
    const flag = new Int32Array(start);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const times = (await Promise.all(messages.map((next) => next()))) as number[];
    return (threads * 2 * size) / (Math.max(...times) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * transformers.js on CPU, the same work with the same inputs: one prompt, and the four prompts one
 * after another (best of `repeats` each, after a warm-up).
 */
async function referenceTimes(
  dir: string,
  dtype: unknown,
  run: { steps: number; perImage: number; guidance: number },
  repeats: number,
): Promise<{ batch1: number; sequential4: number }> {
  const { steps, perImage, guidance } = run;
  env.allowRemoteModels = false;
  env.localModelPath = `${dirname(dir)}/`;
  const processor = await AutoProcessor.from_pretrained(basename(dir), { local_files_only: true });
  // from_pretrained is typed as the base class; generate_images is MultiModalityCausalLM's own.
  const reference = (await MultiModalityCausalLM.from_pretrained(basename(dir), { local_files_only: true, dtype, device: 'cpu' } as never)) as unknown as MultiModalityCausalLM;
  try {
    const inputsFor = await Promise.all(PROMPTS.map((prompt) => processor([{ role: '<|User|>', content: prompt }], { chat_template: 'text_to_image' })));
    const refOnce = async (input = inputsFor[0]) => {
      const t0 = performance.now();
      const o = { ...input, min_new_tokens: steps, max_new_tokens: steps, do_sample: false, guidance_scale: guidance };
      if (steps === perImage) await reference.generate_images(o);
      else {
        // Tokens only (what generate_images does before decoding), for runs shorter than an image.
        (reference as unknown as { _generation_mode: string })._generation_mode = 'image';
        await Object.getPrototypeOf(MultiModalityCausalLM.prototype).generate.call(reference, o);
      }
      return performance.now() - t0;
    };
    await refOnce(); // warm-up
    const batch1 = await best(repeats, refOnce);
    const sequential4 = await best(repeats, async () => {
      let total = 0;
      for (const input of inputsFor) total += await refOnce(input);
      return total;
    });
    return { batch1, sequential4 };
  } finally {
    await reference.dispose();
  }
}

async function best(n: number, f: () => Promise<number>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < n; i++) min = Math.min(min, await f());
  return min;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main().catch((err) => {
  console.error(`bench: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
