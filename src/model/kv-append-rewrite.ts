import onnxProto from 'onnx-proto';
import { GRAPH_IO } from '../bundle/contract.ts';
import { readAttentionForm, readAttentionVariant, type AttentionForm, type AttentionVariant } from './attention-form.ts';
import { readMatMulLevels, setMatMulLevel } from './matmul-accuracy.ts';
import type { MatMulLevels } from './kv-append-plan.ts';

const { onnx } = onnxProto;

/** Bumped whenever the rewrite changes, so cached rewrites of an older kind are not used. */
export const REWRITE_VERSION = 4;

/**
 * What the rewrite adds: `extra` is appended to the original bytes (a merge); `whole` replaces
 * them (a graph whose own nodes had to change).
 */
export type Rewrite =
  | { form: AttentionForm; variant: AttentionVariant; matMul: MatMulLevels; extra?: Uint8Array; whole?: Uint8Array; newKeys: string[]; newValues: string[] }
  | { form: AttentionForm | null; variant: AttentionVariant | null; matMul: MatMulLevels | null; reason: string };

/** Adds an output of each layer's new key and value rows (see planKvAppend), and sets the 4-bit layers to `level` when given. */
export function rewrite(model: onnxProto.onnx.ModelProto, level: number | null): Rewrite {
  const io = GRAPH_IO.language_model;
  const graph = model.graph;
  if (!graph) return { form: null, variant: null, matMul: null, reason: 'the model has no graph' };
  const file = readMatMulLevels(graph);
  const kept: MatMulLevels = { count: file.count, fileLevels: file.levels, runs: null };
  const reading = readAttentionForm(graph);
  if (reading.form === null) return { form: null, variant: null, matMul: kept, reason: reading.reason };
  const { form, layers } = reading;
  const variant = readAttentionVariant(graph, form);
  const opset = Number(model.opsetImport?.find((o) => (o.domain ?? '') === '')?.version ?? 0);
  if (form !== 'concat' && opset < 13) return { form, variant, matMul: kept, reason: `the graph's opset ${opset} is older than 13` };
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);

  const added = new AddedNodes();
  const freshOf = form === 'concat'
    ? (present: string) => producer.get(present)!.input![1]
    : form === 'mha' ? added.lastColumns() : added.gqaColumns();
  const newKeys: string[] = [];
  const newValues: string[] = [];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (let i = 0; i < layers; i++) {
    for (const [present, list] of [[io.presentKey(i), newKeys], [io.presentValue(i), newValues]] as const) {
      const declared = graph.output?.find((o) => o.name === present);
      if (!declared?.type?.tensorType) return { form, variant, matMul: kept, reason: `${present} has no tensor type` };
      const name = freshOf(present);
      const tensorType = declared.type.tensorType;
      const dims = (tensorType.shape?.dim ?? []).map((d, axis) => (axis === 2 ? { dimParam: 'xcot_new_sequence_length' } : d));
      outputs.push({ name, type: { tensorType: { elemType: tensorType.elemType, shape: { dim: dims } } } });
      list.push(name);
    }
  }
  // An accuracy level other than the file's changes the graph's own nodes: the whole model is written again.
  const retuned = level === null ? 0 : setMatMulLevel(graph, level);
  // runs null: the file's own (also when it already holds the level asked for).
  const own = level === null || file.count === 0 || (file.levels.length === 1 && file.levels[0] === level);
  const matMul: MatMulLevels = { ...kept, runs: own ? null : level };
  if (form !== 'mha' && retuned === 0) {
    const extra = onnx.ModelProto.encode({ graph: { node: added.nodes, initializer: added.initializers, output: outputs } }).finish();
    return { form, variant, matMul, extra, newKeys, newValues };
  }
  if (form !== 'mha') {
    graph.node = [...(graph.node ?? []), ...added.nodes];
    graph.initializer = [...(graph.initializer ?? []), ...added.initializers];
    graph.output = [...(graph.output ?? []), ...outputs];
    return { form, variant, matMul, whole: onnx.ModelProto.encode(model).finish(), newKeys, newValues };
  }
  // onnxruntime-genai's builder expands a causal [1, 1, S, S] block to [B, 1, S, T] for
  // MultiHeadAttention, which fails for S > 1 new positions after a past (a prompt continued after
  // a cached prefix). Every MultiHeadAttention gets a bias that holds for any S and T instead:
  // 0 where key j <= T - S + i and attention_mask[b, j] is 1, the dtype's lowest value elsewhere
  // (the builder's own values where its bias works), and the builder's mask nodes are dropped.
  const attention = (graph.node ?? []).filter((n) => n.opType === 'MultiHeadAttention' && n.domain === 'com.microsoft');
  const heads = Number(attention[0].attribute?.find((a) => a.name === 'num_heads')?.i ?? 0);
  const dtype = graph.input?.find((i) => i.name === io.pastKey(0))?.type?.tensorType?.elemType ?? onnx.TensorProto.DataType.FLOAT;
  if (!heads) return { form, variant, matMul: kept, reason: 'MultiHeadAttention has no num_heads' };
  if (dtype !== onnx.TensorProto.DataType.FLOAT && dtype !== onnx.TensorProto.DataType.FLOAT16) return { form, variant, matMul: kept, reason: `the KV cache's element type ${dtype} is neither float32 nor float16` };
  const bias = added.causalPaddingBias(dtype, heads);
  for (const node of attention) {
    const inputs = [...(node.input ?? [])];
    while (inputs.length < 6) inputs.push('');
    // Inputs: query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value.
    inputs[4] = '';
    inputs[5] = bias;
    node.input = inputs;
  }
  graph.node = liveNodes([...(graph.node ?? []), ...added.nodes], [...(graph.output ?? []), ...outputs].map((o) => o.name!));
  graph.initializer = [...(graph.initializer ?? []), ...added.initializers];
  graph.output = [...(graph.output ?? []), ...outputs];
  return { form, variant, matMul, whole: onnx.ModelProto.encode(model).finish(), newKeys, newValues };
}

/**
 * The nodes the given outputs need, in an order where each node comes after the producers of its
 * inputs (ONNX requires it; the added bias is read by nodes that precede it in the list).
 */
function liveNodes(nodes: onnxProto.onnx.INodeProto[], outputs: string[]): onnxProto.onnx.INodeProto[] {
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of nodes) for (const out of node.output ?? []) if (out) producer.set(out, node);
  const placed = new Set<onnxProto.onnx.INodeProto>();
  const order: onnxProto.onnx.INodeProto[] = [];
  // Depth-first from each output with an explicit stack (a 24-layer graph is thousands of nodes deep).
  for (const output of outputs) {
    const root = producer.get(output);
    if (!root || placed.has(root)) continue;
    const stack: { node: onnxProto.onnx.INodeProto; next: number }[] = [{ node: root, next: 0 }];
    const onStack = new Set([root]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const reads = readsOf(top.node);
      if (top.next < reads.length) {
        const dep = producer.get(reads[top.next++]);
        if (dep && !placed.has(dep) && !onStack.has(dep)) {
          onStack.add(dep);
          stack.push({ node: dep, next: 0 });
        }
        continue;
      }
      stack.pop();
      onStack.delete(top.node);
      placed.add(top.node);
      order.push(top.node);
    }
  }
  return order;
}

/** A node's inputs, and what its control-flow bodies read by name from outside. */
function readsOf(node: onnxProto.onnx.INodeProto): string[] {
  const reads = (node.input ?? []).filter(Boolean);
  for (const a of node.attribute ?? []) for (const g of [a.g, ...(a.graphs ?? [])]) for (const n of g?.node ?? []) reads.push(...(n.input ?? []));
  return reads;
}

/** Nodes added after the graph's own: they read its inputs and present outputs only. */
class AddedNodes {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private count = 0;

  /** present [B, h, T, d] -> its last L columns, L = the new positions (mha: present = past then new). */
  lastColumns(): (present: string) => string {
    const len = this.newLength();
    const start = this.node('Neg', [len]);
    const end = this.int64([2n ** 62n]);
    const axis = this.int64([2n]);
    return (present) => this.node('Slice', [present, start, end, axis], `xcot_new/${present}`);
  }

  /** present [B, h, T, d] -> per row b its columns sum(mask_b) - L .. sum(mask_b) - 1 (gqa's new rows). */
  gqaColumns(): (present: string) => string {
    const len = this.newLength();
    const ones = this.node('ReduceSum', [GRAPH_IO.language_model.attentionMask, this.int64([1n])], undefined, [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
    const first = this.node('Sub', [ones, len]);
    const offsets = this.node('Range', [this.int64([0n], []), this.node('Squeeze', [len]), this.int64([1n], [])]);
    const columns = this.node('Add', [first, this.node('Unsqueeze', [offsets, this.int64([0n])])]);
    const index = this.node('Unsqueeze', [columns, this.int64([1n, 3n])]);
    return (present) => {
      const shape = this.node('Shape', [present]);
      const h = this.node('Slice', [shape, this.int64([1n]), this.int64([2n]), this.int64([0n])]);
      const d = this.node('Slice', [shape, this.int64([3n]), this.int64([4n]), this.int64([0n])]);
      const one = this.int64([1n]);
      const expanded = this.node('Expand', [index, this.node('Concat', [one, h, one, d], undefined, [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }])]);
      return this.node('GatherElements', [present, expanded], `xcot_new/${present}`, [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 }]);
    };
  }

  /**
   * [B, heads, S, T] additive attention bias: 0 where key j <= T - S + i and attention_mask[b, j]
   * is 1, else the lowest value of `dtype` (float32 or float16).
   */
  causalPaddingBias(dtype: number, heads: number): string {
    const mask = GRAPH_IO.language_model.attentionMask;
    const len = this.newLength();
    const total = this.node('Slice', [this.node('Shape', [mask]), this.int64([1n]), this.int64([2n]), this.int64([0n])]);
    const past = this.node('Sub', [total, len]);
    const scalar = (x: string) => this.node('Squeeze', [x, this.int64([0n])]);
    const queries = this.node('Add', [this.node('Range', [this.int64([0n], []), scalar(len), this.int64([1n], [])]), past]);
    const keys = this.node('Range', [this.int64([0n], []), scalar(total), this.int64([1n], [])]);
    const causal = this.node('LessOrEqual', [this.node('Unsqueeze', [keys, this.int64([0n])]), this.node('Unsqueeze', [queries, this.int64([1n])])]);
    const padding = this.node('Unsqueeze', [this.node('Cast', [mask], undefined, [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.BOOL }]), this.int64([1n, 2n])]);
    const allowed = this.node('And', [causal, padding]);
    const bias = this.node('Where', [allowed, this.float(dtype, 0), this.float(dtype, -Infinity)]);
    return this.node('Tile', [bias, this.int64([1n, BigInt(heads), 1n, 1n])]);
  }

  /** A scalar of `dtype` (float32 or float16); -Infinity stands for the dtype's lowest finite value. */
  private float(dtype: number, value: number): string {
    const name = `xcot_kv/const_${this.count++}`;
    const half = dtype === onnx.TensorProto.DataType.FLOAT16;
    const rawData = half
      ? new Uint8Array(Uint16Array.of(value === -Infinity ? 0xfbff : 0).buffer)
      : new Uint8Array(Float32Array.of(value === -Infinity ? -3.4028234663852886e38 : value).buffer);
    this.initializers.push({ name, dataType: dtype, dims: [], rawData });
    return name;
  }

  /** [1] int64: the number of new positions, inputs_embeds' dim 1. */
  private newLength(): string {
    const shape = this.node('Shape', [GRAPH_IO.language_model.inputsEmbeds]);
    return this.node('Slice', [shape, this.int64([1n]), this.int64([2n]), this.int64([0n])]);
  }

  private node(opType: string, input: string[], output?: string, attribute: onnxProto.onnx.IAttributeProto[] = []): string {
    const name = output ?? `xcot_kv/${opType}_${this.count++}`;
    this.nodes.push({ opType, domain: '', name: `xcot_kv/node_${this.count++}`, input, output: [name], attribute });
    return name;
  }

  private int64(values: bigint[], dims: number[] = [values.length]): string {
    const name = `xcot_kv/const_${this.count++}`;
    const data = BigInt64Array.from(values);
    this.initializers.push({ name, dataType: onnx.TensorProto.DataType.INT64, dims, rawData: new Uint8Array(data.buffer) });
    return name;
  }
}
