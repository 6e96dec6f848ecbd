import ort from 'onnxruntime-node';
import type { Bundle } from '../bundle/load-bundle.ts';
import { GRAPH_IO, type GraphName } from '../bundle/contract.ts';
import { BundleError } from '../errors.ts';
import { freshStart, gqaMaskProblem, type AttentionForm, type AttentionVariant } from './attention-form.ts';
import { fromHalf, toHalf } from './float16.ts';
import type { KvArena } from './kv-arena.ts';
import { pickRows, stackRows } from './hidden-rows.ts';
import { kvConcatColumns, kvExtend, kvGather, kvStack, type KvCache } from './kv-rows.ts';
import { createSessions, type KvAppendOutputs, type MatMulReport, type SessionOptions } from './sessions.ts';
import type { Device } from '../model-kinds.ts';
import { DeviceKvOps } from './device-kv-ops.ts';
import { HostTraffic, runOnDevice, type DeviceTensor } from './device-tensor.ts';
import type { WebGpuAdapter } from './webgpu-probe.ts';

/** Sizes the engine needs, read from the graphs' own metadata and the bundle's configs. */
export interface ModelShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  hidden: number;
  textVocab: number;
  codebookSize: number;
  imageSize: number;
  /** Image tokens per image, for both understanding (features) and generation (codes). */
  imageTokens: number;
}

/** Pixels of `count` images, [count, 3, S, S] flattened. */
export interface PixelBatch {
  data: Float32Array;
  count: number;
}

export type { KvCache };

/**
 * One loaded bundle: the six sessions and typed calls into them. It holds no generation state;
 * the caller owns the KV cache it passes in and gets back.
 */
export class JanusModel {
  /** Bytes of the tensors fed from and fetched to host memory, over every session run. */
  readonly traffic = new HostTraffic();
  /** On webgpu with the KV cache on the device: the device-side KV graphs. */
  readonly deviceKv: DeviceKvOps | null = null;
  /** On webgpu: the adapter found. */
  adapter?: WebGpuAdapter;
  /** On webgpu: why the KV cache is kept in host memory, when it is. */
  kvHostReason?: string;

  private constructor(
    private readonly sessions: Record<GraphName, ort.InferenceSession>,
    readonly shape: ModelShape,
    readonly device: Device,
    /** Whether the language model declares position_ids (fed from the attention mask). */
    readonly usesPositionIds: boolean,
    /** Set when the language model outputs each step's new KV rows (fetched instead of present). */
    readonly kvAppend: KvAppendOutputs | null,
    /** The language model's attention form (null: none the engine knows; treated as concat). */
    readonly attention: AttentionForm | null,
    /**
     * Whether the decoder takes several new positions after a past in one call. The builder's
     * MultiHeadAttention mask does not (the load-time rewrite replaces it): then they run one by one.
     */
    private readonly continuesAfterPast: boolean,
    /** Why it does not, when that form is not in use. */
    readonly kvAppendReason?: string,
    /** Which onnxruntime-genai builder form the language model is (null: not known). */
    readonly attentionVariant: AttentionVariant | null = null,
    /** The language model's 4-bit layers: the file's accuracy levels and the one that runs. */
    readonly matMul: MatMulReport | null = null,
  ) {}

  static async load(bundle: Bundle, options: SessionOptions = {}): Promise<JanusModel> {
    const loaded = await createSessions(bundle, options);
    const { sessions, device, kvAppend, kvAppendReason, attention, variant, matMul, rewritten } = loaded;
    const shape = readShape(bundle, sessions);
    const usesPositionIds = sessions.language_model.inputNames.includes(GRAPH_IO.language_model.positionIds);
    const model = new JanusModel(sessions, shape, device, usesPositionIds, kvAppend, attention, attention !== 'mha' || rewritten, kvAppendReason, variant, matMul);
    model.adapter = loaded.adapter;
    model.kvHostReason = loaded.kvHostReason;
    if (loaded.kvOnDevice) (model as { deviceKv: DeviceKvOps | null }).deviceKv = new DeviceKvOps(2 * shape.layers, model.traffic, loaded.providerOptions);
    return model;
  }

  /** Whether decodeStep keeps the KV cache on the device (webgpu, the default there). */
  get kvOnDevice(): boolean {
    return this.deviceKv !== null;
  }

  /**
   * Whether the decoder can run a row with attention 0 over its prompt (transformers.js'
   * unconditional row). GroupQueryAttention cannot: it reads only a row's count of ones.
   */
  get allowsUnattendedRows(): boolean {
    return this.attention !== 'gqa';
  }

  /** One line on how the KV cache leaves the runtime each step. */
  get kvStrategy(): string {
    const form = this.attention ?? 'unknown';
    if (this.deviceKv) return `${form} attention: the KV cache stays in WebGPU memory; each step's new rows are written there by device graphs`;
    if (this.kvAppend) return `${form} attention: only each step's new KV rows are fetched (load-time outputs)`;
    return `${form} attention: the whole present cache is fetched each step (${this.kvAppendReason ?? 'no reason given'})`;
  }

  /** Token (and image feature) embeddings for [batch, length] ids. `seqMask` may have batch 1 (broadcast). */
  async embed(ids: BigInt64Array, batch: number, seqMask: Uint8Array, seqMaskBatch: number, images: PixelBatch | null): Promise<ort.Tensor> {
    const io = GRAPH_IO.prepare_inputs_embeds;
    const len = ids.length / batch;
    const s = this.shape.imageSize;
    const count = images?.count ?? 0;
    const session = this.sessions.prepare_inputs_embeds;
    const out = await this.run(session, {
      [io.inputIds]: new ort.Tensor('int64', ids, [batch, len]),
      [io.pixelValues]: this.floatInput(session, io.pixelValues, images?.data ?? new Float32Array(0), count ? [1, count, 3, s, s] : [0, 0, 3, s, s]),
      [io.imagesSeqMask]: new ort.Tensor('bool', seqMask, [seqMaskBatch, len]),
      [io.imagesEmbMask]: new ort.Tensor('bool', new Uint8Array(count * this.shape.imageTokens).fill(1), [1, count, this.shape.imageTokens]),
    });
    return this.asFloat32Tensor(out[io.inputsEmbeds]);
  }

  /** Empty past for `batch` rows. */
  emptyCache(batch: number): KvCache {
    const io = GRAPH_IO.language_model;
    const cache: KvCache = {};
    const session = this.sessions.language_model;
    for (let i = 0; i < this.shape.layers; i++) {
      for (const name of [io.pastKey(i), io.pastValue(i)]) {
        cache[name] = this.floatInput(session, name, new Float32Array(0), [batch, this.shape.kvHeads, 0, this.shape.headDim]);
      }
    }
    return cache;
  }

  /**
   * Runs the decoder over `embeds` [B, L, H] after `cache`; returns the last position's hidden
   * state [B, 1, H] and the grown cache. attentionMask is [B, past + L]. With an `arena` (one per
   * loop) the grown cache is written into its reused buffers: see KvArena for what that allows.
   */
  async decode(embeds: ort.Tensor, cache: KvCache, attentionMask: BigInt64Array, arena?: KvArena): Promise<{ hidden: ort.Tensor; cache: KvCache }> {
    const { hidden, fresh } = await this.decodeFresh(embeds, cache, attentionMask);
    const next: KvCache = {};
    for (const [name, rows] of Object.entries(fresh)) next[name] = kvExtend(cache[name], rows, name, arena);
    return { hidden, cache: next };
  }

  /**
   * Like decode, but returns only the KV rows of the new positions ([B, kvHeads, L, D] under the
   * past_key_values names): for callers that keep the cache in their own layout.
   */
  async decodeFresh(embeds: ort.Tensor, cache: KvCache, attentionMask: BigInt64Array): Promise<{ hidden: ort.Tensor; fresh: KvCache }> {
    const io = GRAPH_IO.language_model;
    const [batch, len] = embeds.dims as number[];
    const total = attentionMask.length / batch;
    if (this.attention === 'gqa') {
      const problem = gqaMaskProblem(attentionMask, batch, total, len);
      // GroupQueryAttention would silently attend to the wrong columns (or fail inside the runtime).
      if (problem) throw new RangeError(`GroupQueryAttention cannot run this attention mask: ${problem}`);
      // Its CPU kernel takes several new positions after a past only at batch 1.
      if (batch > 1 && len > 1 && total > len) return this.decodeRowByRow(embeds, cache, attentionMask);
    }
    if (!this.continuesAfterPast && len > 1 && total > len) return this.decodeOneByOne(embeds, cache, attentionMask);
    const feeds: Record<string, ort.Tensor> = {
      ...cache,
      [io.inputsEmbeds]: this.floatInput(this.sessions.language_model, io.inputsEmbeds, floatData(embeds), [batch, len, this.shape.hidden]),
      [io.attentionMask]: new ort.Tensor('int64', attentionMask, [batch, total]),
    };
    if (this.usesPositionIds) {
      feeds[io.positionIds] = new ort.Tensor('int64', positionIds(attentionMask, batch, total, len), [batch, len]);
    }
    const fresh: KvCache = {};
    const kv = this.kvAppend;
    if (kv) {
      // Only the new rows leave the runtime (its copy-out of the whole present cache is the cost).
      const names = [...kv.newKeys, ...kv.newValues];
      const ran = await runOnDevice(this.sessions.language_model, feeds, {}, [io.hiddenStates, ...names], this.traffic);
      const out: Record<string, ort.Tensor> = { ...ran.host };
      if (Object.keys(ran.device).length > 0) {
        // On webgpu with the KV on the device: prompt prefill keeps its cache in host memory.
        const onDevice = names.map((n) => ran.device[n]);
        try {
          (await this.deviceKv!.download(onDevice)).forEach((t, i) => (out[names[i]] = t));
        } finally {
          for (const t of onDevice) t.dispose();
        }
      }
      for (let i = 0; i < this.shape.layers; i++) {
        fresh[io.pastKey(i)] = out[kv.newKeys[i]];
        fresh[io.pastValue(i)] = out[kv.newValues[i]];
      }
      return { hidden: lastPosition(out[io.hiddenStates]), fresh };
    }
    const out = await this.run(this.sessions.language_model, feeds);
    const starts = Array.from({ length: batch }, (_, b) => freshStart(this.attention ?? 'concat', attentionMask, b, total, len));
    for (let i = 0; i < this.shape.layers; i++) {
      fresh[io.pastKey(i)] = columnsAt(out[io.presentKey(i)], starts, len);
      fresh[io.pastValue(i)] = columnsAt(out[io.presentValue(i)], starts, len);
    }
    return { hidden: lastPosition(out[io.hiddenStates]), fresh };
  }

  /**
   * One new position per row after a device cache (DeviceKvCapacity.past()): the hidden state
   * [B, 1, H] comes back in host memory, each layer's new key/value rows [B, kvHeads, 1, D] stay on
   * the device (under the past_key_values names; the caller disposes them).
   */
  async decodeStep(embeds: ort.Tensor, past: Record<string, DeviceTensor>, attentionMask: BigInt64Array): Promise<{ hidden: ort.Tensor; fresh: Record<string, DeviceTensor> }> {
    const io = GRAPH_IO.language_model;
    const kv = this.kvAppend;
    if (!this.deviceKv || !kv) throw new Error('decodeStep needs the KV cache on the device');
    const [batch, len] = embeds.dims as number[];
    if (len !== 1) throw new RangeError('decodeStep runs one new position per row');
    const total = attentionMask.length / batch;
    if (this.attention === 'gqa') {
      const problem = gqaMaskProblem(attentionMask, batch, total, len);
      if (problem) throw new RangeError(`GroupQueryAttention cannot run this attention mask: ${problem}`);
    }
    const feeds: Record<string, ort.Tensor> = {
      [io.inputsEmbeds]: this.floatInput(this.sessions.language_model, io.inputsEmbeds, floatData(embeds), [batch, len, this.shape.hidden]),
      [io.attentionMask]: new ort.Tensor('int64', attentionMask, [batch, total]),
    };
    if (this.usesPositionIds) feeds[io.positionIds] = new ort.Tensor('int64', positionIds(attentionMask, batch, total, len), [batch, len]);
    const ran = await runOnDevice(this.sessions.language_model, feeds, past, [io.hiddenStates, ...kv.newKeys, ...kv.newValues], this.traffic);
    const fresh: Record<string, DeviceTensor> = {};
    for (let i = 0; i < this.shape.layers; i++) {
      fresh[io.pastKey(i)] = ran.device[kv.newKeys[i]];
      fresh[io.pastValue(i)] = ran.device[kv.newValues[i]];
    }
    const hidden = ran.host[io.hiddenStates];
    if (!hidden || Object.values(fresh).some((t) => !t)) {
      for (const t of Object.values(ran.device)) t.dispose();
      throw new Error('the language model did not return its hidden states on the host and its new KV rows on the device');
    }
    return { hidden: lastPosition(hidden), fresh };
  }

  private async decodeRowByRow(embeds: ort.Tensor, cache: KvCache, attentionMask: BigInt64Array): Promise<{ hidden: ort.Tensor; fresh: KvCache }> {
    const batch = (embeds.dims as number[])[0];
    const total = attentionMask.length / batch;
    const rows = [];
    for (let b = 0; b < batch; b++) {
      const past = kvGather([{ cache, row: b }]);
      rows.push(await this.decodeFresh(pickRows(embeds, [b]), past, attentionMask.subarray(b * total, (b + 1) * total)));
    }
    return { hidden: stackRows(rows.map((r) => r.hidden)), fresh: kvStack(rows.map((r) => r.fresh)) };
  }

  private async decodeOneByOne(embeds: ort.Tensor, cache: KvCache, attentionMask: BigInt64Array): Promise<{ hidden: ort.Tensor; fresh: KvCache }> {
    const [batch, len, hidden] = embeds.dims as number[];
    const total = attentionMask.length / batch;
    const data = embeds.data as Float32Array;
    let past = cache;
    let last: ort.Tensor | null = null;
    const columns: KvCache[] = [];
    for (let i = 0; i < len; i++) {
      const width = total - len + i + 1;
      const mask = new BigInt64Array(batch * width);
      const step = new Float32Array(batch * hidden);
      for (let b = 0; b < batch; b++) {
        mask.set(attentionMask.subarray(b * total, b * total + width), b * width);
        step.set(data.subarray((b * len + i) * hidden, (b * len + i + 1) * hidden), b * hidden);
      }
      const out = await this.decodeFresh(new ort.Tensor('float32', step, [batch, 1, hidden]), past, mask);
      last = out.hidden;
      columns.push(out.fresh);
      past = Object.fromEntries(Object.entries(out.fresh).map(([name, rows]) => [name, kvExtend(past[name], rows, name)]));
    }
    const fresh: KvCache = {};
    for (const name of Object.keys(cache)) fresh[name] = kvConcatColumns(columns.map((c) => c[name]));
    return { hidden: last!, fresh };
  }

  /** Text logits [B, vocab] from hidden [B, 1, H]. */
  textLogits(hidden: ort.Tensor): Promise<Float32Array> {
    return this.head('lm_head', hidden);
  }

  /** Image-token logits [B, codebook] from hidden [B, 1, H]. */
  imageLogits(hidden: ort.Tensor): Promise<Float32Array> {
    return this.head('gen_head', hidden);
  }

  /** Embeddings [B, 1, H] of one sampled image token per row. */
  async embedImageTokens(ids: BigInt64Array): Promise<ort.Tensor> {
    const io = GRAPH_IO.gen_img_embeds;
    const out = await this.run(this.sessions.gen_img_embeds, { [io.imageIds]: new ort.Tensor('int64', ids, [ids.length, 1]) });
    return this.asFloat32Tensor(out[io.inputsEmbeds]);
  }

  /** Pixels in [-1, 1], [count, 3, S, S], from `count` rows of image tokens. */
  async decodeImages(tokens: BigInt64Array, count: number): Promise<Float32Array> {
    const io = GRAPH_IO.image_decode;
    const out = await this.run(this.sessions.image_decode, { [io.generatedTokens]: new ort.Tensor('int64', tokens, [count, tokens.length / count]) });
    return floatData(out[io.decodedImage]);
  }

  async release(): Promise<void> {
    await this.deviceKv?.release();
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }

  /** A session run whose inputs and outputs are all in host memory, counted in `traffic`. */
  private async run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    return (await runOnDevice(session, feeds, {}, [...session.outputNames], this.traffic)).host;
  }

  private async head(graph: 'lm_head' | 'gen_head', hidden: ort.Tensor): Promise<Float32Array> {
    const io = GRAPH_IO[graph];
    const session = this.sessions[graph];
    const input = this.floatInput(session, io.hiddenStates, floatData(hidden), hidden.dims as number[]);
    const out = await this.run(session, { [io.hiddenStates]: input });
    return floatData(out[io.logits]);
  }

  /** A float tensor in the element type the session declares for `name` (float32 or float16). */
  private floatInput(session: ort.InferenceSession, name: string, data: Float32Array, dims: number[]): ort.Tensor {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (meta?.isTensor && meta.type === 'float16') return new ort.Tensor('float16', toHalf(data), dims);
    return new ort.Tensor('float32', data, dims);
  }

  private asFloat32Tensor(t: ort.Tensor): ort.Tensor {
    return t.type === 'float32' ? t : new ort.Tensor('float32', floatData(t), t.dims as number[]);
  }
}

function floatData(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return fromHalf(t.data as Uint16Array);
  throw new Error(`expected a float tensor, got ${t.type}`);
}

/** [B, h, T, d] -> per row b the `len` positions from starts[b], [B, h, len, d] (the tensor itself when len = T). */
function columnsAt(t: ort.Tensor, starts: number[], len: number): ort.Tensor {
  const [b, h, total, d] = t.dims as number[];
  if (len === total) return t;
  const src = t.data as Float32Array | Uint16Array;
  const out = t.type === 'float16' ? new Uint16Array(b * h * len * d) : new Float32Array(b * h * len * d);
  for (let j = 0; j < b * h; j++) {
    const from = (j * total + starts[Math.floor(j / h)]) * d;
    out.set(src.subarray(from, from + len * d), j * len * d);
  }
  return new ort.Tensor(t.type as 'float32', out as Float32Array, [b, h, len, d]);
}

/** [B, L, H] -> [B, 1, H] (the last position of each row), in float32. */
function lastPosition(t: ort.Tensor): ort.Tensor {
  const [batch, len, hidden] = t.dims as number[];
  const data = floatData(t);
  if (len === 1) return new ort.Tensor('float32', data, [batch, 1, hidden]);
  const out = new Float32Array(batch * hidden);
  for (let b = 0; b < batch; b++) out.set(data.subarray((b * len + len - 1) * hidden, (b * len + len) * hidden), b * hidden);
  return new ort.Tensor('float32', out, [batch, 1, hidden]);
}

/**
 * Positions as transformers.js derives them from the attention mask: a running count of attended
 * tokens, 1 at masked positions; the last `len` of each row.
 */
export function positionIds(mask: BigInt64Array, batch: number, total: number, len: number): BigInt64Array {
  const out = new BigInt64Array(batch * len);
  for (let b = 0; b < batch; b++) {
    let sum = 0n;
    for (let j = 0; j < total; j++) {
      const m = mask[b * total + j];
      const pos = m === 0n ? 1n : sum;
      sum += m;
      if (j >= total - len) out[b * len + j - (total - len)] = pos;
    }
  }
  return out;
}

function readShape(bundle: Bundle, sessions: Record<GraphName, ort.InferenceSession>): ModelShape {
  const lm = sessions.language_model;
  const past = lm.inputMetadata.filter((m) => /^past_key_values\.\d+\.key$/.test(m.name));
  const kv = fixedDims(past[0], 'language_model', [1, 3]);
  const [hidden] = fixedDims(lm.inputMetadata.find((m) => m.name === GRAPH_IO.language_model.inputsEmbeds), 'language_model', [2]);
  const [textVocab] = fixedDims(sessions.lm_head.outputMetadata[0], 'lm_head', [2]);
  const [codebookSize] = fixedDims(sessions.gen_head.outputMetadata[0], 'gen_head', [2]);
  return {
    layers: past.length,
    kvHeads: kv[0],
    headDim: kv[1],
    hidden,
    textVocab,
    codebookSize,
    imageSize: bundle.preprocessor.image_size,
    imageTokens: bundle.processor.num_image_tokens,
  };
}

function fixedDims(meta: ort.InferenceSession.ValueMetadata | undefined, graph: string, axes: number[]): number[] {
  if (!meta?.isTensor) throw new BundleError('graph_mismatch', `${graph} graph has no readable tensor metadata.`);
  return axes.map((a) => {
    const d = meta.shape[a];
    if (typeof d !== 'number') {
      throw new BundleError('graph_mismatch', `${graph} graph: "${meta.name}" axis ${a} must have a fixed size.`);
    }
    return d;
  });
}
