import ort from 'onnxruntime-node';

/**
 * A tensor that lives in WebGPU memory ('gpu-buffer'). It has no data accessor: onnxruntime-node
 * cannot download a gpu-buffer tensor, and getData() on one aborts the whole process from native
 * code. The only ways to use one are to feed it to a session (runOnDevice) or to dispose it, so no
 * code path can read it on the host.
 */
export class DeviceTensor {
  static #live = 0;
  #tensor: ort.Tensor | null;
  readonly dims: readonly number[];
  readonly type: ort.Tensor.Type;

  private constructor(tensor: ort.Tensor) {
    this.#tensor = tensor;
    this.dims = tensor.dims;
    this.type = tensor.type;
    DeviceTensor.#live++;
  }

  /** Device tensors created and not disposed yet, in this thread (for leak checks). */
  static get live(): number {
    return DeviceTensor.#live;
  }

  /** Frees the device memory now (idempotent). */
  dispose(): void {
    if (!this.#tensor) return;
    this.#tensor.dispose();
    this.#tensor = null;
    DeviceTensor.#live--;
  }

  get disposed(): boolean {
    return this.#tensor === null;
  }

  /** @internal Only runOnDevice unwraps a device tensor, to feed it. */
  static feed(t: DeviceTensor): ort.Tensor {
    if (!t.#tensor) throw new Error('a disposed device tensor was fed to a session');
    return t.#tensor;
  }

  /** @internal Only runOnDevice wraps a session's gpu-buffer output. */
  static wrap(t: ort.Tensor): DeviceTensor {
    return new DeviceTensor(t);
  }
}

/** A session's outputs split by where they are: host tensors (readable) and device tensors (opaque). */
export interface DeviceRunResult {
  host: Record<string, ort.Tensor>;
  device: Record<string, DeviceTensor>;
}

/** Counts the bytes that cross between host memory and the sessions. */
export class HostTraffic {
  bytesIn = 0;
  bytesOut = 0;

  get total(): number {
    return this.bytesIn + this.bytesOut;
  }
}

function hostBytes(t: ort.Tensor): number {
  const data = t.data as ArrayBufferView | string[];
  return ArrayBuffer.isView(data) ? data.byteLength : 0;
}

/** Sessions created with preferredOutputLocation (see markDeviceOutputs). */
const withDeviceOutputs = new WeakSet<ort.InferenceSession>();

/**
 * Records that `session` was created with preferredOutputLocation. onnxruntime-node 1.30 applies
 * those locations by position in the fetch list, not by output name (fetching a subset put
 * hidden_states on the device and a KV output on the host): such a session is always run with
 * every output fetched, in the session's order, and the outputs not asked for are dropped.
 */
export function markDeviceOutputs(session: ort.InferenceSession): ort.InferenceSession {
  withDeviceOutputs.add(session);
  return session;
}

/**
 * Runs `session` with host inputs and device inputs; every fetched output comes back wrapped as a
 * DeviceTensor when the session put it on the device, and as a plain tensor only when it is in
 * host memory. Host bytes in and out are added to `traffic`.
 */
export async function runOnDevice(
  session: ort.InferenceSession,
  host: Record<string, ort.Tensor>,
  device: Record<string, DeviceTensor>,
  fetches: string[],
  traffic?: HostTraffic,
): Promise<DeviceRunResult> {
  const feeds: Record<string, ort.Tensor> = { ...host };
  for (const [name, t] of Object.entries(device)) feeds[name] = DeviceTensor.feed(t);
  const all = withDeviceOutputs.has(session);
  const out = await session.run(feeds, all ? [...session.outputNames] : fetches);
  const result: DeviceRunResult = { host: {}, device: {} };
  const wanted = new Set(fetches);
  for (const [name, t] of Object.entries(out)) {
    if (!wanted.has(name)) {
      if (t.location === 'gpu-buffer') t.dispose();
      continue;
    }
    if (t.location === 'gpu-buffer') result.device[name] = DeviceTensor.wrap(t);
    else result.host[name] = t;
  }
  if (traffic) {
    for (const t of Object.values(host)) traffic.bytesIn += hostBytes(t);
    for (const t of Object.values(result.host)) traffic.bytesOut += hostBytes(t);
  }
  return result;
}
