import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { TINY_DIMS } from '../../src/generator/dims.ts';
import { makeBundle, type MakeBundleOptions } from '../../src/generator/make-bundle.ts';
import { CancelledError } from '../../src/errors.ts';
import { loadBundle } from '../../src/bundle/load-bundle.ts';
import { JanusModel } from '../../src/model/janus-model.ts';
import { DeviceTensor } from '../../src/model/device-tensor.ts';
import { probeWebGpu } from '../../src/model/webgpu-probe.ts';
import { Personalizer, type GenerateRequest } from '../../src/pipeline/personalizer.ts';
import { WorkerEngine } from '../../src/runtime/worker-engine.ts';
import { ATTENTION_FORMS } from '../helpers/tiny-bundle.ts';

/**
 * The WebGPU provider on whatever Vulkan adapter this machine has (in CI: Mesa's lavapipe from
 * scripts/install-vulkan-cpu.sh). Fixtures are the tiny bundle at a 128-pixel image size (64 image
 * tokens per image) so that a whole image is a few seconds even on a software driver. Shader
 * compiling dominates a cold run; npm run test:webgpu keeps Mesa's shader cache in .cache/mesa.
 */
const probe = await probeWebGpu();
const skip = probe.ok ? false : `no WebGPU adapter here: ${probe.reason}`;
const exec = promisify(execFile);

type Form = NonNullable<MakeBundleOptions['attention']>;
// Every form the fixture generator writes (test/helpers/tiny-bundle.ts keeps the list).
const FORMS: Form[] = [...ATTENTION_FORMS];
const root = mkdtempSync(join(tmpdir(), 'xcot-webgpu-'));
const bundles = new Map<Form, string>();
function bundle(form: Form): string {
  let dir = bundles.get(form);
  if (!dir) {
    dir = join(root, form);
    // q4f16 (what webgpu loads by default) exists for the builder forms; concat is fp32.
    makeBundle({ out: dir, seed: 1, dims: { ...TINY_DIMS, imageSize: 128 }, attention: form, variants: form === 'concat' ? ['fp32'] : ['fp32', 'q4f16'] });
    bundles.set(form, dir);
  }
  return dir;
}
after(() => rmSync(root, { recursive: true, force: true }));

async function subjectPhoto(): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 80, channels: 3, background: { r: 180, g: 60, b: 20 } } })
    .composite([{ input: { create: { width: 30, height: 20, channels: 3, background: { r: 20, g: 200, b: 90 } } }, left: 10, top: 12 }])
    .png()
    .toBuffer();
}

test('the probe names the adapter and driver WebGPU runs on', { skip }, () => {
  assert.ok(probe.ok);
  assert.match(probe.adapter.adapter, /\S/);
  assert.match(probe.adapter.driver, /\S/);
});

for (const form of FORMS) {
  describe(`${form} attention on webgpu`, { skip }, () => {
    const loaded: Record<'device' | 'host', Personalizer | null> = { device: null, host: null };
    before(async () => {
      loaded.device = await Personalizer.load(bundle(form), { device: 'webgpu', kv: 'device', intraOpThreads: 1 });
      loaded.host = await Personalizer.load(bundle(form), { device: 'webgpu', kv: 'host', intraOpThreads: 1 });
    });
    after(async () => {
      await loaded.device?.close();
      await loaded.host?.close();
    });

    test('the language model runs on webgpu with its KV cache on the device, or in host memory with --kv host', () => {
      assert.equal(loaded.device!.device, 'webgpu');
      assert.equal(loaded.device!.model.kvOnDevice, true);
      assert.equal(loaded.host!.device, 'webgpu');
      assert.equal(loaded.host!.model.kvOnDevice, false);
      assert.match(loaded.host!.model.kvHostReason ?? '', /--kv host/);
    });

    // The unattended uncond row cannot run on GroupQueryAttention (as on CPU): gqa and gqa-separate use the official one.
    const uncond = form.startsWith('gqa') ? ('janus' as const) : ('transformers-js' as const);

    /** Runs the same job set on both caches: a solo job, then three jobs joining and leaving mid-image, one cancelled. */
    async function scenario(p: Personalizer) {
      const tokens = async (r: GenerateRequest) => (await p.generate(r)).images.map((i) => i.imageTokens);
      const solo = await tokens({ prompt: 'a dog on the moon', seed: 1, count: 2 });
      const subject = await p.prepareImages([{ bytes: await subjectPhoto(), name: 'rex.png' }]);
      let late: Promise<number[][]> | null = null;
      let cancelled: Promise<number[][]> | null = null;
      const ac = new AbortController();
      const together = await Promise.all([
        tokens({
          prompt: 'a dog on the moon',
          seed: 1,
          count: 2,
          onStep: (done) => {
            // A job with a subject photo (prompt prefix cache) joins 10 steps in; one more joins and is cancelled.
            if (done === 10) late = tokens({ prompt: 'the same dog asleep on a red sofa', subject, grounding: 'a small dog', seed: 2, cfgWeight: 3, topK: 40 });
            if (done === 12) cancelled = tokens({ prompt: 'a cat', seed: 3, uncond, temperature: 0.7, signal: ac.signal, onStep: (d) => void (d === 5 && ac.abort()) });
          },
        }),
        tokens({ prompt: 'a mug', greedy: true, cfgWeight: 1 }),
      ]);
      await assert.rejects(cancelled!, CancelledError);
      const again = await tokens({ prompt: 'the same dog asleep on a red sofa', subject, grounding: 'a small dog', seed: 2, cfgWeight: 3, topK: 40 });
      return { solo, together, late: await late!, again, prefixHits: p.cacheStats().prefixHits };
    }

    test('tokens with the KV cache on the device equal those with it in host memory, solo and batched (joins, leaves, a cancel, a subject prefix cache)', async () => {
      const liveBefore = DeviceTensor.live;
      const onDevice = await scenario(loaded.device!);
      const onHost = await scenario(loaded.host!);
      assert.deepEqual(onDevice.solo, onHost.solo, 'solo job');
      assert.deepEqual(onDevice.together, onHost.together, 'jobs stepped together');
      assert.deepEqual(onDevice.late, onHost.late, 'the job that joined mid-image');
      assert.deepEqual(onDevice.again, onHost.again, 'the repeat on a cached subject prefix');
      assert.ok(onDevice.prefixHits > 0, 'the repeat used the prompt prefix cache');
      assert.equal(onDevice.solo.length, 2);
      assert.equal(DeviceTensor.live, liveBefore, 'device tensors left undisposed after the jobs ended');
    });

    test('a step moves far fewer bytes across the host with the KV cache on the device', async () => {
      const bytesPerStep = async (p: Personalizer) => {
        const marks: number[] = [];
        await p.generate({ prompt: 'a lighthouse', seed: 4, onStep: (d) => void ((d === 20 || d === 60) && marks.push(p.model.traffic.total)) });
        return (marks[1] - marks[0]) / 40;
      };
      const device = await bytesPerStep(loaded.device!);
      const host = await bytesPerStep(loaded.host!);
      // Device: embeddings in, hidden states and logits out, masks and one-hot columns; host adds the whole past every step.
      const s = loaded.device!.model.shape;
      const kvRowBytesPerColumn = 2 * s.layers * s.kvHeads * s.headDim * 2;
      assert.ok(host - device > 2 * kvRowBytesPerColumn * 60, `host ${host} B/step vs device ${device} B/step`);
    });
  });
}

/**
 * Stated tolerance, relative to the largest |hidden state| of the CPU run: 1e-4 for fp32 weights
 * and activations; 3% for q4f16, whose activations are float16 on the GPU (measured here: 0.053 at
 * a largest value of 3.5, 1.5%).
 */
const TOLERANCE = { fp32: 1e-4, q4f16: 0.03 };

describe('webgpu against the CPU provider', { skip }, () => {
  for (const [form, dtype] of [['concat', 'fp32'], ['mha', 'q4f16'], ['gqa', 'q4f16']] as const) {
    test(`${form} ${dtype}: the language model's hidden states on webgpu are within ${TOLERANCE[dtype] * 100}% of the CPU provider's (prompt, then 4 steps, 2 rows)`, async () => {
      const dtypes = { language_model: dtype };
      const gpu = await JanusModel.load(loadBundle(bundle(form), { device: 'webgpu', dtypes }), { device: 'webgpu', kv: 'host', intraOpThreads: 1 });
      const cpu = await JanusModel.load(loadBundle(bundle(form), { device: 'cpu', dtypes }), { device: 'cpu', intraOpThreads: 1 });
      try {
        assert.equal(gpu.device, 'webgpu');
        const h = gpu.shape.hidden;
        const len = 8;
        const embeds = new Float32Array(2 * len * h).map((_, i) => Math.sin(i * 0.37) * 0.5);
        const mask = new BigInt64Array(2 * len).fill(1n);
        const run = async (m: JanusModel) => {
          let out = await m.decode(new ort.Tensor('float32', embeds.slice(), [2, len, h]), m.emptyCache(2), mask);
          const states = [out.hidden.data as Float32Array];
          for (let step = 1; step <= 4; step++) {
            const next = new Float32Array(2 * h).map((_, i) => Math.cos(i * 0.11 * step) * 0.5);
            const stepMask = new BigInt64Array(2 * (len + step)).fill(1n);
            out = await m.decode(new ort.Tensor('float32', next, [2, 1, h]), out.cache, stepMask);
            states.push(out.hidden.data as Float32Array);
          }
          return states;
        };
        const [a, b] = [await run(gpu), await run(cpu)];
        let worst = 0;
        a.forEach((x, k) => x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[k][i])))));
        const scale = b.reduce((m, x) => x.reduce((n, v) => Math.max(n, Math.abs(v)), m), 0);
        assert.ok(worst <= TOLERANCE[dtype] * scale, `largest difference ${worst} at a largest |value| of ${scale}`);
        assert.ok(worst > 0 || dtype === 'fp32', 'webgpu and CPU gave identical float16 results: the webgpu run may not be on the GPU');
        assert.ok(a.every((x) => x.every(Number.isFinite)));
      } finally {
        await gpu.release();
        await cpu.release();
      }
    });
  }
});

describe('one thread for all WebGPU work', { skip }, () => {
  test('MODEL_SLOTS=3 on webgpu runs one worker thread, and 6 concurrent jobs all finish with the process alive', async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (_: object, msg: string) => void warnings.push(msg), error: () => {} };
    const engine = await WorkerEngine.start({ modelDir: bundle('gqa'), device: 'webgpu', workers: 3, intraOpThreads: 1, logger });
    try {
      assert.equal(engine.workers, 1);
      assert.ok(warnings.some((w) => /one worker thread/.test(w)), warnings.join('; '));
      assert.equal(engine.device, 'webgpu');
      const jobs = Array.from({ length: 6 }, (_, i) => engine.generate({ prompt: `a robot number ${i}`, seed: i, count: 1 + (i % 2) }));
      const results = await Promise.all(jobs);
      results.forEach((r, i) => assert.equal(r.images.length, 1 + (i % 2)));
    } finally {
      await engine.close();
    }
  });
});

describe('faults', () => {
  test('--device webgpu without a usable Vulkan driver falls back to CPU with one line saying why, and the image is still drawn', async () => {
    const dir = bundle('gqa');
    const fake = join(root, 'missing_icd.json');
    writeFileSync(fake, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: '/nonexistent/libvulkan_missing.so', api_version: '1.3.0' } }));
    const out = join(root, 'fallback.png');
    const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/personalize.ts', '--model', dir, '--prompt', 'a dog', '--device', 'webgpu', '--json', '--out', out], {
      env: { ...process.env, VK_ICD_FILENAMES: fake, VK_DRIVER_FILES: fake },
      timeout: 300_000,
    });
    const json = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(json.device, 'cpu');
    assert.equal(json.images.length, 1);
    const lines = stderr.split('\n').filter((l) => /WebGPU unavailable/.test(l));
    assert.equal(lines.length, 1, stderr);
    assert.doesNotMatch(stderr, /\n\s+at /, 'a stack trace was printed');
  });

  test('the CLI on webgpu says "device": "webgpu" with the adapter, and its tokens with --kv host equal the default (device)', { skip }, async () => {
    const dir = bundle('gqa');
    const run = async (kv: string[]) => {
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'src/cli/personalize.ts', '--model', dir, '--prompt', 'a dog', '--seed', '1', '--count', '2', '--device', 'webgpu', ...kv, '--json', '--out', join(root, `cli${kv.join('')}.png`)], { timeout: 300_000 });
      return JSON.parse(stdout.trim().split('\n').pop()!);
    };
    const device = await run([]);
    const host = await run(['--kv', 'host']);
    assert.equal(device.device, 'webgpu');
    assert.equal(device.kv, 'device');
    assert.equal(host.kv, 'host');
    assert.match(device.adapter, /\S/);
    assert.deepEqual(device.images.map((i: { imageTokens: number[] }) => i.imageTokens), host.images.map((i: { imageTokens: number[] }) => i.imageTokens));
  });
});
