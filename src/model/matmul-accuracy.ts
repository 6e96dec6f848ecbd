import { createHash, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * MatMulNBits' accuracy_level: the least precise type its CPU kernel may compute in. 0 (unset) and 1
 * float32, 2 float16, 3 bfloat16, 4 int8 activations (blockwise quantized). A CPU without a kernel
 * for a level runs it in float32.
 */
export const ACCURACY_LEVELS = [0, 1, 2, 3, 4] as const;

/** Which level the engine runs 4-bit layers at: the fastest one it measured correct, or the file's own. */
export type MatMulAccuracy = 'fastest' | 'file';

/** Largest relative RMS difference from level 0 on the probe that still counts as correct. */
export const MAX_RELATIVE_ERROR = 0.02;

/**
 * The probe: Janus-Pro-1B's MLP up projection (2048 -> 5632, 4-bit, block 32) on 4 rows, the shape of
 * a decoder step for two guided images. One fixed shape, so every bundle on a machine gets the same
 * answer (a tiny fixture's matrices are too small to time).
 */
const PROBE = { rows: 4, k: 2048, n: 5632, block: 32 };

export interface LevelMeasurement {
  level: number;
  /** Median time of one probe run. */
  ms: number;
  /** Relative RMS difference from level 0's output. */
  relativeError: number;
  correct: boolean;
}

export interface LevelChoice {
  /** The level to run: the fastest correct one (0 when none beats it). */
  level: number;
  measured: LevelMeasurement[];
  /** Where it was measured: CPU model, ONNX Runtime version, threads. */
  machine: string;
  fromCache: boolean;
}

/**
 * Measures every accuracy level on the probe (once per machine, ONNX Runtime version and thread
 * count: the answer is kept in `cacheDir`) and picks the fastest whose output is within
 * MAX_RELATIVE_ERROR of level 0's. A level must be at least 5% faster than level 0 to be chosen.
 */
export async function fastestMatMulLevel(cacheDir: string | null, threads = 0): Promise<LevelChoice> {
  const machine = `${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}; onnxruntime ${ort.env.versions.common}; threads ${threads || 'default'}`;
  const file = cacheDir ? join(cacheDir, `matmulnbits-level-${createHash('sha256').update(machine).digest('hex').slice(0, 16)}.json`) : null;
  if (file) {
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as LevelChoice;
      if (cached.machine === machine && ACCURACY_LEVELS.includes(cached.level as 0)) return { ...cached, fromCache: true };
    } catch {
      // Not measured here yet.
    }
  }
  const measured = await measureLevels(threads);
  const base = measured.find((m) => m.level === 0)!;
  const best = measured.filter((m) => m.correct).reduce((a, b) => (b.ms < a.ms ? b : a), base);
  const choice: LevelChoice = { level: best.ms < base.ms * 0.95 ? best.level : 0, measured, machine, fromCache: false };
  if (file) {
    try {
      mkdirSync(cacheDir!, { recursive: true });
      const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
      writeFileSync(temp, `${JSON.stringify(choice)}\n`);
      renameSync(temp, file);
    } catch {
      // A read-only cache: measured again next time.
    }
  }
  return choice;
}

async function measureLevels(threads: number): Promise<LevelMeasurement[]> {
  const input = randomFloats(PROBE.rows * PROBE.k, 1);
  const feeds = { A: new ort.Tensor('float32', input, [PROBE.rows, PROBE.k]) };
  const weights = probeWeights();
  const results: { level: number; ms: number; out: Float32Array }[] = [];
  for (const level of ACCURACY_LEVELS) {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(probeModel(level, weights), {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
        ...(threads ? { intraOpNumThreads: threads } : {}),
      });
    } catch {
      continue; // A level this build does not take.
    }
    try {
      let out: Float32Array = new Float32Array(0);
      for (let i = 0; i < 2; i++) out = (await session.run(feeds)).Y.data as Float32Array;
      const times: number[] = [];
      for (let i = 0; i < 9; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      results.push({ level, ms: times[times.length >> 1], out });
    } finally {
      await session.release();
    }
  }
  const reference = results.find((r) => r.level === 0)!.out;
  return results.map(({ level, ms, out }) => {
    const relativeError = relativeRms(out, reference);
    return { level, ms, relativeError, correct: Number.isFinite(relativeError) && relativeError <= MAX_RELATIVE_ERROR };
  });
}

function relativeRms(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

function probeWeights(): { packed: Uint8Array; scales: Float32Array } {
  const blocks = PROBE.k / PROBE.block;
  const packed = new Uint8Array(PROBE.n * blocks * (PROBE.block / 2));
  let s = 12345;
  for (let i = 0; i < packed.length; i++) packed[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24;
  const scales = Float32Array.from({ length: PROBE.n * blocks }, (_, i) => 0.01 + ((i * 7919) % 97) / 9700);
  return { packed, scales };
}

function probeModel(level: number, w: { packed: Uint8Array; scales: Float32Array }): Uint8Array {
  const T = onnx.AttributeProto.AttributeType;
  const blocks = PROBE.k / PROBE.block;
  const int = (name: string, i: number) => ({ name, type: T.INT, i });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
    graph: {
      name: 'matmulnbits_probe',
      node: [{
        opType: 'MatMulNBits', domain: 'com.microsoft', input: ['A', 'B', 'scales'], output: ['Y'],
        attribute: [int('K', PROBE.k), int('N', PROBE.n), int('bits', 4), int('block_size', PROBE.block), int('accuracy_level', level)],
      }],
      initializer: [
        { name: 'B', dataType: onnx.TensorProto.DataType.UINT8, dims: [PROBE.n, blocks, PROBE.block / 2], rawData: w.packed },
        { name: 'scales', dataType: onnx.TensorProto.DataType.FLOAT, dims: [PROBE.n * blocks], rawData: new Uint8Array(w.scales.buffer) },
      ],
      input: [tensorInfo('A', [{ dimParam: 'rows' }, { dimValue: PROBE.k }])],
      output: [tensorInfo('Y', [{ dimParam: 'rows' }, { dimValue: PROBE.n }])],
    },
  }).finish();
}

function tensorInfo(name: string, dim: onnxProto.onnx.TensorShapeProto.IDimension[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim } } } };
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) out[i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  return out;
}

/** The MatMulNBits nodes of a graph: how many, and the accuracy levels the file gives them. */
export function readMatMulLevels(graph: onnxProto.onnx.IGraphProto): { count: number; levels: number[] } {
  const levels = new Set<number>();
  let count = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== 'MatMulNBits' || node.domain !== 'com.microsoft') continue;
    count++;
    levels.add(Number(node.attribute?.find((a) => a.name === 'accuracy_level')?.i ?? 0));
  }
  return { count, levels: [...levels].sort() };
}

/** Sets every MatMulNBits node's accuracy_level; returns how many nodes changed. */
export function setMatMulLevel(graph: onnxProto.onnx.IGraphProto, level: number): number {
  let changed = 0;
  for (const node of graph.node ?? []) {
    if (node.opType !== 'MatMulNBits' || node.domain !== 'com.microsoft') continue;
    const attrs = node.attribute ?? [];
    const current = attrs.find((a) => a.name === 'accuracy_level');
    if (Number(current?.i ?? 0) === level) continue;
    node.attribute = [...attrs.filter((a) => a.name !== 'accuracy_level'), { name: 'accuracy_level', type: onnx.AttributeProto.AttributeType.INT, i: level }];
    changed++;
  }
  return changed;
}
