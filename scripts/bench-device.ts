import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEVICES, type Device } from '../src/model-kinds.ts';
import { loadBundle } from '../src/bundle/load-bundle.ts';
import type { GraphDtype, GraphName } from '../src/bundle/contract.ts';
import { ImageBatcher } from '../src/decoding/image-batcher.ts';
import { PromptCaches } from '../src/decoding/prompt-caches.ts';
import { JANUS_PRO_1B_DIMS, TINY_DIMS, type BundleDims } from '../src/generator/dims.ts';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { JanusModel } from '../src/model/janus-model.ts';

/**
 * The decode loop per device: per-step time, bytes crossing between host memory and the sessions
 * per step (inputs fed from and outputs fetched to host memory, all graphs of a step), and image
 * tokens per second. Runs each device of --device in turn in this process (webgpu's first run
 * compiles shaders: a warm-up of a few steps comes first and is not timed). It drives the model and
 * the batcher directly with a fixed prompt of token ids (no tokenizer, no image code), so that
 * scripts/gpu-check.sh can ship it as one small bundled file.
 */
export const DEVICE_USAGE = `Usage: npm run bench -- --device webgpu|cpu[,cpu|webgpu...] [--kv host|device] [--bundle DIR | --preset tiny|1b-layers|janus-pro-1b]
       [--steps N] [--count N] [--dtype GRAPH=DTYPE ...] [--require webgpu] [--json FILE]
Times N decode steps (default 64) of --count images (default 2, guided: 2 rows each) after the prompt.
Without --bundle: a generated gqa fixture with q4 (cpu) and q4f16 (webgpu) language models: tiny,
1b-layers (Janus-Pro-1B's layer shapes, 2 layers) or janus-pro-1b (all 24 layers).
--require webgpu: fail in one line when webgpu falls back to CPU.`;

export interface DeviceFigures {
  device: string;
  /** Provider in use (differs from `device` after a fallback). */
  deviceInUse: string;
  adapter: string | null;
  driver: string | null;
  kv: 'host' | 'device';
  rows: number;
  steps: number;
  loadMs: number;
  warmupMs: number;
  perStepMs: number;
  hostBytesPerStep: number;
  imageTokensPerSec: number;
  fallback?: string;
}

export async function benchDevice(dir: string, device: Device, o: { kv?: 'host' | 'device'; steps: number; count: number; dtypes?: Partial<Record<GraphName, GraphDtype>> }): Promise<DeviceFigures> {
  let fallback: string | undefined;
  const t0 = performance.now();
  const model = await JanusModel.load(loadBundle(dir, { device, dtypes: o.dtypes }), { device, kv: o.kv, onFallback: (r) => (fallback = r) });
  const loadMs = performance.now() - t0;
  try {
    const batcher = new ImageBatcher(model, new PromptCaches(), { maxRows: 2 * o.count });
    // A 24-token prompt and the official unconditional row (attended pad ids), as for a guided image.
    const ids = Array.from({ length: 24 }, (_, i) => 5 + ((i * 7) % 60));
    const none = new Uint8Array(ids.length);
    const rows = [
      { ids, imageMask: none, attended: true },
      { ids: ids.map((id, i) => (i === 0 || i === ids.length - 1 ? id : 1)), imageMask: none, attended: true },
    ];
    const upTo = async (steps: number, onStep?: (done: number) => void) => {
      const ac = new AbortController();
      await batcher
        .run({
          rows, images: null, count: o.count, cfgWeight: 5, seeds: Array.from({ length: o.count }, (_, i) => i + 1), temperature: 1, topK: 0, greedy: false,
          signal: ac.signal,
          onStep: (done) => {
            onStep?.(done);
            if (done >= steps) ac.abort();
          },
        })
        .catch((err: Error) => {
          if (err.name !== 'CancelledError') throw err;
        });
    };
    const w0 = performance.now();
    await upTo(3);
    const warmupMs = performance.now() - w0;
    // From step 2 on: the prompt and the batch's first cache upload are behind.
    const first = 2;
    const marks = new Map<number, { t: number; bytes: number }>();
    await upTo(first + o.steps, (done) => {
      if (done === first || done === first + o.steps) marks.set(done, { t: performance.now(), bytes: model.traffic.total });
    });
    const a = marks.get(first)!;
    const b = marks.get(first + o.steps)!;
    const perStepMs = (b.t - a.t) / o.steps;
    return {
      device,
      deviceInUse: model.device,
      adapter: model.adapter?.adapter ?? null,
      driver: model.adapter?.driver ?? null,
      kv: model.kvOnDevice ? 'device' : 'host',
      rows: 2 * o.count,
      steps: o.steps,
      loadMs: Math.round(loadMs),
      warmupMs: Math.round(warmupMs),
      perStepMs: round(perStepMs),
      hostBytesPerStep: Math.round((b.bytes - a.bytes) / o.steps),
      imageTokensPerSec: round((o.count * 1000) / perStepMs),
      ...(fallback ? { fallback } : {}),
    };
  } finally {
    await model.release();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const ONE_B_LAYERS: BundleDims = { ...JANUS_PRO_1B_DIMS, layers: 2 };

/** `npm run bench -- --device ...` (and scripts/gpu-check.sh run). */
export async function benchDevicesMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      device: { type: 'string' }, kv: { type: 'string' }, bundle: { type: 'string' }, preset: { type: 'string' },
      steps: { type: 'string' }, count: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean' },
      quick: { type: 'boolean' }, candidates: { type: 'boolean' }, scorers: { type: 'string' },
      dtype: { type: 'string', multiple: true }, require: { type: 'string' },
    },
  });
  if (values.help) return void console.log(DEVICE_USAGE);
  const devices = (values.device ?? 'webgpu').split(',');
  for (const d of devices) if (!DEVICES.includes(d as Device)) throw new Error(`--device takes ${DEVICES.join(', ')} (comma-separated), got ${d}`);
  if (values.kv !== undefined && values.kv !== 'host' && values.kv !== 'device') throw new Error('--kv takes host or device');
  const steps = Number(values.steps ?? 64);
  const count = Number(values.count ?? 2);
  if (!(Number.isInteger(steps) && steps > 0) || !(Number.isInteger(count) && count > 0)) throw new Error('--steps and --count take positive whole numbers');
  const dtypes: Partial<Record<GraphName, GraphDtype>> = {};
  for (const d of values.dtype ?? []) {
    const [graph, dtype] = d.split('=');
    dtypes[graph as GraphName] = dtype as GraphDtype;
  }
  let dir = values.bundle;
  let temp: string | undefined;
  if (!dir) {
    const preset = values.preset ?? 'tiny';
    const presets: Record<string, BundleDims> = { tiny: TINY_DIMS, '1b-layers': ONE_B_LAYERS, 'janus-pro-1b': JANUS_PRO_1B_DIMS };
    if (!presets[preset]) throw new Error('--preset takes tiny, 1b-layers or janus-pro-1b');
    temp = mkdtempSync(join(tmpdir(), 'bench-device-'));
    dir = join(temp, preset);
    const t = performance.now();
    makeBundle({ out: dir, seed: 1, dims: presets[preset], attention: 'gqa', variants: ['q4', 'q4f16'] });
    console.error(`fixture ${preset} (gqa, q4 and q4f16) built in ${Math.round(performance.now() - t)} ms`);
  }
  try {
    const figures: DeviceFigures[] = [];
    for (const device of devices) {
      console.error(`bench ${device}: loading`);
      const f = await benchDevice(dir, device as Device, { kv: values.kv as 'host' | 'device' | undefined, steps, count, dtypes });
      figures.push(f);
      if (values.require === device && f.deviceInUse !== device) throw new Error(`${device} was required but is not usable here: ${f.fallback ?? 'fell back'}`);
      console.error(
        `${device}${f.deviceInUse !== device ? ` (fell back to ${f.deviceInUse}: ${f.fallback})` : ''}: ${f.adapter ? `adapter ${f.adapter}, ` : ''}KV ${f.kv}, ` +
          `${f.perStepMs} ms/step at ${f.rows} rows, ${f.imageTokensPerSec} image tokens/s, ${f.hostBytesPerStep} bytes across the host per step (warm-up ${f.warmupMs} ms)`,
      );
    }
    const gpu = figures.find((f) => f.device === 'webgpu' && f.deviceInUse === 'webgpu');
    const cpu = figures.find((f) => f.device === 'cpu');
    const result = {
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
      bundle: values.bundle ?? `generated ${values.preset ?? 'tiny'} gqa fixture`,
      figures,
      ...(gpu && cpu ? { cpuOverWebgpuStepTime: round(cpu.perStepMs / gpu.perStepMs) } : {}),
    };
    console.log(JSON.stringify(result, null, 2));
    if (values.json) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(values.json, `${JSON.stringify(result, null, 2)}\n`);
    }
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  benchDevicesMain(process.argv.slice(2)).catch((err: Error) => {
    console.error(`bench: ${err.message.split('\n')[0]}`);
    process.exit(1);
  });
}
