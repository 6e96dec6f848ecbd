import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeBundle } from '../src/generator/make-bundle.ts';
import { TINY_DIMS } from '../src/generator/dims.ts';
import { REAL_X4_DIMS, UPSCALER_FIXTURES, writeSwin2SRFolder } from '../src/generator/upscalers/make-upscaler-fixtures.ts';
import type { RgbImage } from '../src/images/load.ts';

const USAGE = `Usage: npm run bench:upscale -- [--dir DIR] [--size N] [--json FILE] [--skip-reference]
One x4 upscale of an N x N image (384) by our upscaler, untiled and tiled (a 1024 MiB budget), and by transformers.js' image-to-image pipeline, each in a child process of its
own (time, peak RSS), on the same folder: DIR, or a random-weight one at the real sizes of
Xenova/swin2SR-realworld-sr-x4-64-bsrgan-psnr (embed_dim 180, 6 groups of 6 blocks, 6 heads,
window 8, nearest+conv). Then a generation in an engine worker (tiny bundle) alone and while the
upscale thread runs: the gaps between its steps.`;

const SELF = fileURLToPath(import.meta.url);

function texture(n: number): RgbImage {
  const data = new Uint8Array(n * n * 3);
  let s = 5;
  for (let i = 0; i < data.length; i++) data[i] = ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 26) + (((i / 3) % n) * 180) / n;
  return { data, width: n, height: n };
}

/** One measurement in this (child) process; prints one JSON line. */
async function child(kind: string, dir: string, size: number): Promise<void> {
  const image = texture(size);
  const t0 = performance.now();
  let loadMs: number;
  let out: { width: number; height: number; tiles?: number; tileSize?: number };
  if (kind === 'reference') {
    const { RawImage, env, pipeline } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = `${dirname(dir)}/`;
    const upscaler = await pipeline('image-to-image', basename(dir), { dtype: 'fp32', device: 'cpu', local_files_only: true });
    loadMs = performance.now() - t0;
    const r = (await upscaler(new RawImage(new Uint8ClampedArray(image.data), size, size, 3))) as InstanceType<typeof RawImage>;
    out = { width: r.width, height: r.height };
  } else {
    const { Upscaler } = await import('../src/upscaling/upscaler.ts');
    const upscaler = await Upscaler.load(dir, kind === 'untiled' ? { memoryBudgetMb: 1e6 } : { memoryBudgetMb: 1024 });
    loadMs = performance.now() - t0;
    const r = await upscaler.upscale(image);
    out = { width: r.image.width, height: r.image.height, tiles: r.tiles, tileSize: r.tileSize };
  }
  const upscaleMs = performance.now() - t0 - loadMs;
  console.log(JSON.stringify({ kind, loadMs: Math.round(loadMs), upscaleMs: Math.round(upscaleMs), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), ...out }));
}

/** Step gaps of a generation in an engine worker, alone and while the upscale thread works. */
async function stalls(dir: string, size: number): Promise<void> {
  const { WorkerEngine } = await import('../src/runtime/worker-engine.ts');
  const { UpscaleThread } = await import('../src/runtime/upscale-thread.ts');
  const { encodeImage } = await import('../src/images/encode.ts');
  const bundleRoot = mkdtempSync(join(tmpdir(), 'bench-upscale-bundle-'));
  const bundle = join(bundleRoot, 'tiny');
  makeBundle({ out: bundle, seed: 1, dims: TINY_DIMS });
  const engine = await WorkerEngine.start({ modelDir: bundle });
  const thread = await UpscaleThread.start({ dir });
  const gaps = async (): Promise<number[]> => {
    const times: number[] = [];
    await engine.generate({ prompt: 'a dog on the moon', seed: 1, onStep: () => void times.push(performance.now()) });
    return times.slice(1).map((t, i) => t - times[i]);
  };
  const summary = (g: number[]) => {
    const s = [...g].sort((a, b) => a - b);
    return { steps: g.length, medianMs: +s[s.length >> 1].toFixed(2), p99Ms: +s[Math.floor(s.length * 0.99)].toFixed(2), maxMs: +s[s.length - 1].toFixed(2) };
  };
  try {
    await gaps();
    const alone = summary(await gaps());
    const png = await encodeImage(texture(size).data, size, size, { format: 'png' });
    let upscaling = true;
    const upscale = thread.upscale(png).finally(() => (upscaling = false));
    const during: number[] = [];
    let images = 0;
    await new Promise((r) => setTimeout(r, 2000));
    while (upscaling) {
      during.push(...(await gaps()));
      images++;
    }
    await upscale;
    console.log(JSON.stringify({ kind: 'stalls', alone, duringUpscale: { ...summary(during), images } }));
  } finally {
    await thread.close();
    await engine.close();
    rmSync(bundleRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, size: { type: 'string', default: '384' }, json: { type: 'string' }, child: { type: 'string' }, 'skip-reference': { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help) return void console.log(USAGE);
  const size = Number(values.size);
  if (!Number.isInteger(size) || size < 8) throw new Error('--size takes a whole number of at least 8');
  if (values.child) {
    if (values.child === 'stalls') return stalls(values.dir!, size);
    return child(values.child, values.dir!, size);
  }
  let dir = values.dir;
  let temp: string | undefined;
  if (!dir) {
    temp = mkdtempSync(join(tmpdir(), 'bench-upscale-'));
    dir = join(temp, UPSCALER_FIXTURES.x4);
    writeSwin2SRFolder(dir, REAL_X4_DIMS, `caidas/${UPSCALER_FIXTURES.x4}`, 3);
  }
  try {
    const kinds = ['untiled', 'tiled', ...(values['skip-reference'] ? [] : ['reference']), 'stalls'];
    const results: unknown[] = [];
    for (const kind of kinds) {
      console.error(`[bench-upscale] ${kind} ...`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--child', kind, '--dir', dir, '--size', String(size)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`${kind} failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
      const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
      console.error(`[bench-upscale] ${JSON.stringify(line)}`);
      results.push(line);
    }
    const report = { machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), memoryGb: Math.round(totalmem() / 2 ** 30) }, size, model: dir, results };
    console.log(JSON.stringify(report, null, 2));
    if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

await main();
