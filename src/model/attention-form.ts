import type onnxProto from 'onnx-proto';
import { GRAPH_IO } from '../bundle/contract.ts';

/**
 * How a language model's attention produces `present.N.key/value`:
 * - `concat`: a plain ONNX Concat(past, new) on the sequence axis (our first fixture's form);
 * - `mha`: com.microsoft MultiHeadAttention (onnxruntime-genai's builder, web target): present is
 *   past followed by the new rows, the mask becomes an additive bias, positions come from position_ids;
 * - `gqa`: com.microsoft GroupQueryAttention (the builder's cpu/cuda target): it reads only each
 *   row's count of ones in attention_mask, takes the row's valid past as its first columns, and
 *   writes the new rows of row b at columns sum(mask_b) - L .. sum(mask_b) - 1 of present.
 */
export type AttentionForm = 'concat' | 'mha' | 'gqa';

export type FormReading = { form: AttentionForm; layers: number } | { form: null; layers: number; reason: string };

const FUSED: Record<string, AttentionForm> = { MultiHeadAttention: 'mha', GroupQueryAttention: 'gqa' };

/** Reads the attention form from the graph: every layer must have the same one. */
export function readAttentionForm(graph: onnxProto.onnx.IGraphProto): FormReading {
  const io = GRAPH_IO.language_model;
  const layers = (graph.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? '')).length;
  if (layers === 0) return { form: null, layers, reason: 'the graph has no past_key_values inputs' };
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);
  let found: AttentionForm | null = null;
  for (let i = 0; i < layers; i++) {
    for (const [present, past] of [[io.presentKey(i), io.pastKey(i)], [io.presentValue(i), io.pastValue(i)]]) {
      const node = producer.get(present);
      if (!node) return { form: null, layers, reason: `no node produces ${present}` };
      const form = formOf(node, past);
      if (!form) return { form: null, layers, reason: `${present} comes from ${node.opType} (${node.domain || 'ai.onnx'}), not Concat(${past}, new), MultiHeadAttention or GroupQueryAttention` };
      if (found && form !== found) return { form: null, layers, reason: `layers mix attention forms (${found} and ${form})` };
      found = form;
    }
  }
  return { form: found!, layers };
}

function formOf(node: onnxProto.onnx.INodeProto, past: string): AttentionForm | null {
  if (node.opType === 'Concat' && (node.domain ?? '') === '' && node.input?.length === 2 && node.input[0] === past) {
    const axis = node.attribute?.find((a) => a.name === 'axis');
    const value = axis?.i === undefined || axis.i === null ? NaN : Number(axis.i);
    return value === 2 || value === -2 ? 'concat' : null;
  }
  if (node.domain === 'com.microsoft' && FUSED[node.opType ?? '']) return FUSED[node.opType!];
  return null;
}

/**
 * Per row b, the first column of present that holds the `len` new positions: the last `len`
 * columns for concat and mha; for gqa the columns ending at the row's count of attended positions.
 */
export function freshStart(form: AttentionForm, mask: BigInt64Array, row: number, total: number, len: number): number {
  if (form !== 'gqa') return total - len;
  let ones = 0;
  for (let j = row * total; j < (row + 1) * total; j++) ones += Number(mask[j]);
  return ones - len;
}

/**
 * GroupQueryAttention assumes each row's attended past is its first columns and its new positions
 * are attended: a mask of ones, then zeros (free capacity), then `len` ones. Returns why a mask is
 * not of that form (e.g. a row with attention 0 everywhere), or null.
 */
export function gqaMaskProblem(mask: BigInt64Array, rows: number, total: number, len: number): string | null {
  for (let r = 0; r < rows; r++) {
    const base = r * total;
    let j = 0;
    while (j < total - len && mask[base + j] === 1n) j++;
    if (j === 0 && total > len) return `row ${r} attends to none of its past`;
    while (j < total - len && mask[base + j] === 0n) j++;
    if (j < total - len) return `row ${r} has a masked gap inside its past`;
    for (; j < total; j++) if (mask[base + j] !== 1n) return `row ${r} masks one of its new positions`;
  }
  return null;
}

/**
 * Which of onnxruntime-genai builder's graph forms a language model is (builder.py, make_attention):
 * - `mha`: MultiHeadAttention, separate q/k/v, RotaryEmbedding from position_ids (its web target);
 * - `gqa-packed`: GroupQueryAttention fed one packed qkv_proj output as query, key and value empty,
 *   rotary inside (its cpu/cuda target);
 * - `gqa-separate`: GroupQueryAttention on separate q/k/v after RotaryEmbedding from position_ids,
 *   rotary not inside (its dml target);
 * - `gqa-rotary-inside`: separate q/k/v with rotary inside, a form no builder target writes;
 * - `concat`: plain ONNX attention, not a builder form.
 */
export type AttentionVariant = 'concat' | 'mha' | 'gqa-packed' | 'gqa-separate' | 'gqa-rotary-inside';

export const VARIANT_TEXT: Record<AttentionVariant, string> = {
  concat: 'plain ONNX Concat(past, new) attention (not an onnxruntime-genai builder form)',
  mha: "MultiHeadAttention with RotaryEmbedding and position_ids (onnxruntime-genai builder's web form)",
  'gqa-packed': "GroupQueryAttention on one packed qkv_proj, rotary inside (onnxruntime-genai builder's cpu/cuda form)",
  'gqa-separate': "GroupQueryAttention on separate q/k/v with RotaryEmbedding and position_ids (onnxruntime-genai builder's dml form)",
  'gqa-rotary-inside': 'GroupQueryAttention on separate q/k/v, rotary inside (no onnxruntime-genai builder target writes this)',
};

/** The variant of a graph whose form readAttentionForm found (from layer 0's attention node). */
export function readAttentionVariant(graph: onnxProto.onnx.IGraphProto, form: AttentionForm): AttentionVariant {
  if (form !== 'gqa') return form;
  const node = (graph.node ?? []).find((n) => n.opType === 'GroupQueryAttention' && n.domain === 'com.microsoft')!;
  const inputs = node.input ?? [];
  if (!inputs[1] && !inputs[2]) return 'gqa-packed';
  const doRotary = Number(node.attribute?.find((a) => a.name === 'do_rotary')?.i ?? 0);
  return doRotary ? 'gqa-rotary-inside' : 'gqa-separate';
}
