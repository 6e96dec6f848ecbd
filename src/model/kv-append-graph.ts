import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { defaultGraphCacheDir, identityKey, linkData, readCached, writable, writeEntry, type CacheMeta } from './kv-append-cache.ts';
import type { KvAppendPlan, PlanOptions } from './kv-append-plan.ts';
import { rewrite, REWRITE_VERSION } from './kv-append-rewrite.ts';
import { firstLine } from '../util/first-line.ts';

const { onnx } = onnxProto;

/**
 * onnxruntime-node copies every fetched output into a fresh JavaScript buffer: the present KV
 * cache, the largest output of a decoder step, would be copied out whole at every step (at
 * Janus-Pro-1B, two rows halfway through an image, that copy took about half of the step). This
 * makes each layer's new key/value rows an output of their own, so the engine fetches only those
 * and writes them into the cache it owns. Per attention form:
 * - concat: present is Concat(past, new): `new` becomes an output;
 * - mha: MultiHeadAttention's present ends with the new rows: a Slice of its last L columns (and
 *   its attention bias is replaced by one that also allows a prompt continued after a past);
 * - gqa: GroupQueryAttention writes row b's new rows at columns sum(mask_b) - L ..: a GatherElements
 *   at those columns, computed from attention_mask as GroupQueryAttention does.
 *
 * The original file is not modified: the rewrite is its bytes followed by a second ModelProto.graph
 * holding only the added nodes and outputs (protobuf merges a repeated singular message field, so
 * they are appended), beside hard links to its external data files (ONNX Runtime refuses data
 * reached through a symbolic link; across file systems the files are cloned or copied). Rewrites are
 * kept in `cacheDir` keyed by the file's path, size, mtime and inode, so a large file is read and
 * decoded once, not at every start; a graph that cannot be rewritten is remembered too. Without a
 * writable cache the rewrite goes to a temp folder that cleanup() removes.
 */
export function planKvAppend(path: string, cacheDir: string | null = defaultGraphCacheDir(), options: PlanOptions = {}): KvAppendPlan {
  const level = options.matMulLevel ?? null;
  const source = realpathSync(path);
  const entry = cacheDir ? join(cacheDir, `${basename(source)}-${identityKey(source, level)}`) : null;
  const cached = entry ? readCached(entry, source) : null;
  if (cached) return cached;

  const bytes = readFileSync(source);
  const model = onnx.ModelProto.decode(bytes);
  const made = rewrite(model, level);
  const target = entry && writable(cacheDir!) ? entry : join(tmpdir(), `xcot-kv-append-${randomBytes(6).toString('hex')}`);
  const keep = target === entry;
  const staging = keep ? `${target}.tmp-${randomBytes(6).toString('hex')}` : target;
  if ('reason' in made) {
    if (keep) writeEntry(staging, target, source, { version: REWRITE_VERSION, source, level, form: made.form, variant: made.variant, matMul: made.matMul, reason: made.reason });
    return { ...made, fromCache: false };
  }
  const file = basename(source);
  try {
    mkdirSync(staging, { recursive: true });
    const linked = linkData(dirname(source), staging, model.graph!);
    if (made.whole) writeFileSync(join(staging, file), made.whole);
    else {
      // Two writes, not one concatenation: a 780 MB file is not held twice.
      writeFileSync(join(staging, file), bytes);
      appendFileSync(join(staging, file), made.extra!);
    }
    const meta: CacheMeta = { version: REWRITE_VERSION, source, level, form: made.form, variant: made.variant, matMul: made.matMul, file, newKeys: made.newKeys, newValues: made.newValues, linked };
    if (keep) writeEntry(staging, target, source, meta);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    return { form: made.form, variant: made.variant, matMul: { ...made.matMul, runs: null }, reason: `cannot write the rewritten graph: ${firstLine(err)}`, fromCache: false };
  }
  return {
    form: made.form,
    variant: made.variant,
    matMul: made.matMul,
    path: join(target, file),
    newKeys: made.newKeys,
    newValues: made.newValues,
    fromCache: false,
    cleanup: keep ? () => {} : () => rmSync(target, { recursive: true, force: true }),
  };
}
