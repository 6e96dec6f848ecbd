import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { ElemType, SmallGraph } from './small-graph.ts';

/** The Vulkan device WebGPU (Dawn) runs on, as far as the host tells. */
export interface WebGpuAdapter {
  /** e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (Mesa lavapipe, software)". */
  adapter: string;
  /** The Vulkan driver: the ICD manifest in use and its version where known. */
  driver: string;
}

export type WebGpuProbe = { ok: true; adapter: WebGpuAdapter } | { ok: false; reason: string };

const PROBE_TIMEOUT_MS = 120_000;

let cached: Promise<WebGpuProbe> | null = null;

/**
 * Whether this process can run the WebGPU execution provider, found out once per process in a
 * child process: a driver that Dawn refuses, or one that crashes, then costs that child and never
 * this process. The child opens a one-node graph on 'webgpu' only (no CPU fallback) and runs it.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  cached ??= runProbe();
  return cached;
}

async function runProbe(): Promise<WebGpuProbe> {
  const loader = findVulkanLoader();
  if (!loader) return { ok: false, reason: 'the Vulkan loader libvulkan.so.1 is not installed (Debian: apt-get install libvulkan1; a CPU-only machine also needs scripts/install-vulkan-cpu.sh)' };
  const icds = vulkanIcds();
  if (icds.length === 0) return { ok: false, reason: 'no Vulkan driver (ICD) is installed: a GPU needs its vendor driver, a CPU-only machine scripts/install-vulkan-cpu.sh' };
  const g = new SmallGraph('webgpu_probe');
  g.input('x', ElemType.float, 1);
  g.node('Add', ['x', 'x'], {}, 'y');
  g.output('y', ElemType.float, 1);
  const model = Buffer.from(g.encode()).toString('base64');
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const script = `
    const ort = (await import(${JSON.stringify(pathToUrl(ortPath))})).default;
    const bytes = Buffer.from(process.env.XCOT_PROBE_MODEL, 'base64');
    try {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [3]) });
      const y = Array.from(out.y.data);
      process.stdout.write(JSON.stringify({ ok: y.join() === '2,4,6', y }));
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.message || err).split('\\n').slice(0, 3).join(' ') }));
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, XCOT_PROBE_MODEL: model },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('close', (c, s) => resolve([c, s]));
    child.on('error', () => resolve([null, null]));
  });
  clearTimeout(timer);
  let result: { ok: boolean; error?: string } | null;
  try {
    result = JSON.parse(stdout);
  } catch {
    result = null;
  }
  if (result?.ok) return { ok: true, adapter: describeAdapter(icds) };
  if (result?.error) return { ok: false, reason: explain(result.error) };
  if (signal) return { ok: false, reason: `the WebGPU probe process ended with ${signal}${signal === 'SIGKILL' ? ' (no answer in 120 s)' : ''}: the Vulkan driver failed (${lastLine(stderr)})` };
  return { ok: false, reason: `the WebGPU probe process exited with code ${code} (${lastLine(stderr)})` };
}

function explain(error: string): string {
  if (/no supported adapter|adapter/i.test(error)) return `no WebGPU adapter: Dawn found no Vulkan device it accepts (Mesa older than 24 is refused; scripts/install-vulkan-cpu.sh installs a newer software driver) (${error.slice(0, 200)})`;
  return `the WebGPU execution provider did not start (${error.slice(0, 300)})`;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return lines.length ? lines[lines.length - 1].slice(0, 200) : 'no output';
}

function pathToUrl(path: string): string {
  return new URL(`file://${path}`).href;
}

const LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/local/lib'];

function findVulkanLoader(): string | null {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LOADER_DIRS];
  for (const d of dirs) {
    const p = join(d, 'libvulkan.so.1');
    if (existsSync(p)) return p;
  }
  return null;
}

interface Icd {
  manifest: string;
  library: string;
}

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/share/glvnd/egl_vendor.d/../../vulkan/icd.d'];

function vulkanIcds(): Icd[] {
  const explicit = (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES || '').split(':').filter(Boolean);
  const files = explicit.length
    ? explicit
    : ICD_DIRS.flatMap((d) => {
        try {
          return readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => join(d, f));
        } catch {
          return [];
        }
      });
  const out: Icd[] = [];
  for (const manifest of files) {
    try {
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: string } };
      if (json.ICD?.library_path) out.push({ manifest, library: json.ICD.library_path });
    } catch {
      // An unreadable manifest is not a driver the loader would use either.
    }
  }
  return out;
}

/**
 * Dawn does not report its adapter through onnxruntime-node, so it is named from what the host
 * has: a Vulkan driver for a device node that exists, preferring a GPU (as Dawn's high-performance
 * preference does) over Mesa's software lavapipe.
 */
function describeAdapter(icds: Icd[]): WebGpuAdapter {
  const has = (re: RegExp) => icds.find((i) => re.test(basename(i.manifest)) || re.test(i.library));
  const nvidia = has(/nvidia/i);
  if (nvidia && existsSync('/dev/nvidia0')) {
    const name = readNvidiaName();
    return { adapter: name ?? 'NVIDIA GPU', driver: `NVIDIA Vulkan ICD (${nvidia.manifest})` };
  }
  const renderNode = existsSync('/dev/dri') && readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  const hardware = renderNode ? icds.find((i) => !/lvp|nvidia/i.test(basename(i.manifest))) : undefined;
  if (hardware) return { adapter: `GPU behind /dev/dri (${basename(hardware.library)})`, driver: `Vulkan ICD ${hardware.manifest}` };
  const lvp = has(/lvp/i);
  if (lvp) return { adapter: 'llvmpipe (Mesa lavapipe, software Vulkan on the CPU)', driver: `Mesa ${mesaVersion() ?? ''} ${lvp.manifest}`.replace(/\s+/g, ' ') };
  return { adapter: 'unknown Vulkan device', driver: icds.map((i) => i.manifest).join(', ') };
}

function readNvidiaName(): string | null {
  // /proc/driver/nvidia/gpus holds one folder per GPU, each with an `information` file.
  try {
    const dir = '/proc/driver/nvidia/gpus';
    const first = readdirSync(dir)[0];
    const info = readFileSync(join(dir, first, 'information'), 'utf8');
    const model = /Model:\s*(.+)/.exec(info)?.[1]?.trim();
    const version = readFileSync('/proc/driver/nvidia/version', 'utf8').match(/Kernel Module\s+([\d.]+)/)?.[1];
    return model ? `${model}${version ? ` (driver ${version})` : ''}` : null;
  } catch {
    return null;
  }
}

function mesaVersion(): string | null {
  try {
    const status = readFileSync('/var/lib/dpkg/status', 'utf8');
    const block = status.split('\n\n').find((b) => /^Package: mesa-vulkan-drivers$/m.test(b));
    return block ? (/^Version: (.+)$/m.exec(block)?.[1] ?? null) : null;
  } catch {
    return null;
  }
}
