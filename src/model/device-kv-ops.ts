import ort from 'onnxruntime-node';
import { DeviceTensor, HostTraffic, markDeviceOutputs, runOnDevice } from './device-tensor.ts';
import { ElemType, SmallGraph } from './small-graph.ts';

type KvType = 'float32' | 'float16';

/**
 * The KV cache's row and column operations as small ONNX graphs on the WebGPU provider, so a
 * batch's cache is rebuilt without leaving the device (the device-side counterpart of kv-rows.ts
 * and KvCapacity's buffer writes). Each graph takes every KV tensor of the model at once:
 * - rows: Gather rows (batch axis), keep the first `keep` columns, zero-pad to the new capacity;
 * - join: Concat two caches on the batch axis;
 * - write: per row, the new position's key/value written into one column (Where over a one-hot mask);
 * - download: an Identity whose outputs are fetched to host memory (for prompt prefill, which keeps
 *   prefixes in host memory).
 * All four only select and copy: the results are bit-exact.
 */
export class DeviceKvOps {
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(
    private readonly count: number,
    private readonly traffic: HostTraffic,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
  ) {}

  /** rows(): [R,h,C,d] each -> rows `rows` of it, columns 0..keep-1, zero-padded to `capacity`. */
  async rows(inputs: (DeviceTensor | ort.Tensor)[], rows: number[], keep: number, capacity: number): Promise<DeviceTensor[]> {
    const type = inputs[0].type as KvType;
    const session = await this.session('rows', type);
    const host: Record<string, ort.Tensor> = {
      rows: new ort.Tensor('int64', BigInt64Array.from(rows.map(BigInt)), [rows.length]),
      keep: new ort.Tensor('int64', BigInt64Array.from([BigInt(keep)]), [1]),
      pads: new ort.Tensor('int64', BigInt64Array.from([0, 0, 0, 0, 0, 0, capacity - keep, 0].map(BigInt)), [8]),
    };
    const device: Record<string, DeviceTensor> = {};
    inputs.forEach((t, i) => {
      if (t instanceof DeviceTensor) device[`x${i}`] = t;
      else host[`x${i}`] = t;
    });
    return this.deviceOutputs(await runOnDevice(session, host, device, this.names('y'), this.traffic));
  }

  /** join(): [A,h,C,d] and [B,h,C,d] -> [A+B,h,C,d], per tensor. */
  async join(a: DeviceTensor[], b: DeviceTensor[]): Promise<DeviceTensor[]> {
    const session = await this.session('join', a[0].type as KvType);
    const device: Record<string, DeviceTensor> = {};
    a.forEach((t, i) => (device[`a${i}`] = t));
    b.forEach((t, i) => (device[`b${i}`] = t));
    return this.deviceOutputs(await runOnDevice(session, {}, device, this.names('y'), this.traffic));
  }

  /** write(): past [R,h,C,d] with fresh [R,h,1,d] put at column `at[r]` of row r. */
  async write(past: DeviceTensor[], fresh: DeviceTensor[], at: number[], capacity: number): Promise<DeviceTensor[]> {
    const session = await this.session('write', past[0].type as KvType);
    const hot = new Uint8Array(at.length * capacity);
    at.forEach((c, r) => (hot[r * capacity + c] = 1));
    const device: Record<string, DeviceTensor> = {};
    past.forEach((t, i) => (device[`past${i}`] = t));
    fresh.forEach((t, i) => (device[`fresh${i}`] = t));
    const host = { column: new ort.Tensor('bool', hot, [at.length, 1, capacity, 1]) };
    return this.deviceOutputs(await runOnDevice(session, host, device, this.names('y'), this.traffic));
  }

  /** download(): the tensors in host memory. */
  async download(tensors: DeviceTensor[]): Promise<ort.Tensor[]> {
    const session = await this.session('download', tensors[0].type as KvType);
    const device: Record<string, DeviceTensor> = {};
    tensors.forEach((t, i) => (device[`x${i}`] = t));
    const out = await runOnDevice(session, {}, device, this.names('y'), this.traffic);
    return this.names('y').map((n) => {
      const t = out.host[n];
      if (!t) throw new Error('the download graph left its output on the device');
      return t;
    });
  }

  async release(): Promise<void> {
    const all = await Promise.allSettled(this.#sessions.values());
    this.#sessions.clear();
    await Promise.all(all.flatMap((s) => (s.status === 'fulfilled' ? [s.value.release()] : [])));
  }

  private names(prefix: string): string[] {
    return Array.from({ length: this.count }, (_, i) => `${prefix}${i}`);
  }

  private deviceOutputs(out: { device: Record<string, DeviceTensor>; host: Record<string, ort.Tensor> }): DeviceTensor[] {
    return this.names('y').map((n) => {
      const t = out.device[n];
      if (!t) throw new Error('a device KV graph returned its output in host memory');
      return t;
    });
  }

  private session(kind: 'rows' | 'join' | 'write' | 'download', type: KvType): Promise<ort.InferenceSession> {
    const key = `${kind}-${type}`;
    let s = this.#sessions.get(key);
    if (!s) {
      const bytes = buildGraph(kind, this.count, type === 'float16' ? ElemType.float16 : ElemType.float);
      const location = kind === 'download' ? 'cpu' : 'gpu-buffer';
      const preferredOutputLocation = Object.fromEntries(this.names('y').map((n) => [n, location])) as Record<string, ort.Tensor.DataLocation>;
      s = ort.InferenceSession.create(bytes, { ...this.sessionOptions, preferredOutputLocation }).then(markDeviceOutputs);
      this.#sessions.set(key, s);
      s.catch(() => this.#sessions.delete(key));
    }
    return s;
  }
}

function buildGraph(kind: 'rows' | 'join' | 'write' | 'download', count: number, type: typeof ElemType.float | typeof ElemType.float16): Uint8Array {
  const g = new SmallGraph(`kv_${kind}`);
  if (kind === 'rows') {
    g.input('rows', ElemType.int64, 1);
    g.input('keep', ElemType.int64, 1);
    g.input('pads', ElemType.int64, 1);
    const zero = g.constInt([0]);
    const seqAxis = g.constInt([2]);
    for (let i = 0; i < count; i++) {
      g.input(`x${i}`, type, 4);
      const picked = g.node('Gather', [`x${i}`, 'rows'], { axis: 0 });
      const kept = g.node('Slice', [picked, zero, 'keep', seqAxis]);
      g.node('Pad', [kept, 'pads'], {}, `y${i}`);
      g.output(`y${i}`, type, 4);
    }
  } else if (kind === 'join') {
    for (let i = 0; i < count; i++) {
      g.input(`a${i}`, type, 4);
      g.input(`b${i}`, type, 4);
      g.node('Concat', [`a${i}`, `b${i}`], { axis: 0 }, `y${i}`);
      g.output(`y${i}`, type, 4);
    }
  } else if (kind === 'write') {
    g.input('column', ElemType.bool, 4);
    for (let i = 0; i < count; i++) {
      g.input(`past${i}`, type, 4);
      g.input(`fresh${i}`, type, 4);
      g.node('Where', ['column', `fresh${i}`, `past${i}`], {}, `y${i}`);
      g.output(`y${i}`, type, 4);
    }
  } else {
    for (let i = 0; i < count; i++) {
      g.input(`x${i}`, type, 4);
      g.node('Identity', [`x${i}`], {}, `y${i}`);
      g.output(`y${i}`, type, 4);
    }
  }
  return g.encode();
}
