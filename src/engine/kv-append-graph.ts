import { constants, copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import { GRAPH_IO } from '../bundle/contract.ts';

const { onnx } = onnxProto;

/** A language model made to also output each layer's new keys and values. */
export interface KvAppendGraph {
  /** The rewritten model file (in a temp folder, next to hard links to the original's data files). */
  path: string;
  /** Per layer, the graph's own names of the new key / value rows (what present concatenates to past). */
  newKeys: string[];
  newValues: string[];
  /** Removes the temp folder (once the session has been created). */
  cleanup(): void;
}

/**
 * onnxruntime-node copies every fetched output into a fresh JavaScript buffer: the present KV
 * cache, the largest output of a decoder step, is copied out whole at every step (at
 * Janus-Pro-1B, two rows halfway through an image, that copy took about half of the step). When
 * a layer's present.N.key/value is Concat(past_key_values.N.key/value, new) on the sequence axis,
 * the new rows are already a tensor in the graph: this adds them as outputs, so the engine
 * fetches only those (a few KB) and appends them to the cache it owns.
 *
 * The public file is not modified: the rewrite is the original bytes followed by a second
 * ModelProto.graph holding only the extra outputs (protobuf merges a repeated singular message
 * field, so the outputs are appended), written to a temp folder with hard links to its external
 * data files (ONNX Runtime refuses data reached through a symbolic link out of the model's folder;
 * across file systems the files are cloned or copied). Returns the reason instead when the graph does
 * not have that form (e.g. a fused attention op produces present): the engine then fetches present.
 */
export function planKvAppend(path: string): KvAppendGraph | { reason: string } {
  const io = GRAPH_IO.language_model;
  const bytes = readFileSync(path);
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) return { reason: 'the model has no graph' };
  const layers = (graph.input ?? []).filter((i) => /^past_key_values\.\d+\.key$/.test(i.name ?? '')).length;
  if (layers === 0) return { reason: 'the graph has no past_key_values inputs' };
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);
  const newOf = (present: string, past: string): string | null => {
    const node = producer.get(present);
    if (!node || node.opType !== 'Concat' || (node.domain ?? '') !== '' || node.input?.length !== 2 || node.input[0] !== past) return null;
    const axis = node.attribute?.find((a) => a.name === 'axis');
    const value = axis?.i === undefined || axis.i === null ? NaN : Number(axis.i);
    return value === 2 || value === -2 ? node.input[1] : null;
  };
  const newKeys: string[] = [];
  const newValues: string[] = [];
  const outputs: onnxProto.onnx.IValueInfoProto[] = [];
  for (let i = 0; i < layers; i++) {
    for (const [present, past, list] of [
      [io.presentKey(i), io.pastKey(i), newKeys],
      [io.presentValue(i), io.pastValue(i), newValues],
    ] as const) {
      const name = newOf(present, past);
      if (!name) return { reason: `${present} is not Concat(${past}, new) on the sequence axis` };
      const declared = graph.output?.find((o) => o.name === present);
      if (!declared?.type?.tensorType) return { reason: `${present} has no tensor type` };
      const tensorType = declared.type.tensorType;
      const dims = (tensorType.shape?.dim ?? []).map((d, axis) => (axis === 2 ? { dimParam: 'xcot_new_sequence_length' } : d));
      outputs.push({ name, type: { tensorType: { elemType: tensorType.elemType, shape: { dim: dims } } } });
      list.push(name);
    }
  }
  const extra = onnx.ModelProto.encode({ graph: { output: outputs } }).finish();
  const locations = new Set<string>();
  for (const t of graph.initializer ?? []) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  }
  const dir = mkdtempSync(join(tmpdir(), 'xcot-kv-append-'));
  const file = basename(path);
  try {
    const source = dirname(path);
    for (const location of locations) {
      const relative = normalize(location);
      if (relative.startsWith('..') || relative.startsWith(sep)) throw new Error(`external data outside the model folder: ${location}`);
      const target = join(dir, relative);
      mkdirSync(dirname(target), { recursive: true });
      try {
        linkSync(join(source, relative), target);
      } catch {
        copyFileSync(join(source, relative), target, constants.COPYFILE_FICLONE);
      }
    }
    writeFileSync(join(dir, file), Buffer.concat([bytes, extra]));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `cannot write the rewritten graph: ${(err as Error).message.split('\n')[0]}` };
  }
  return { path: join(dir, file), newKeys, newValues, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
