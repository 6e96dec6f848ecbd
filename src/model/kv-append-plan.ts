import type { AttentionForm, AttentionVariant } from './attention-form.ts';

/** What planKvAppend answers: a language model rewritten to output each layer's new KV rows, or why not. */

/** The graph's 4-bit layers: how many, the accuracy levels the file gives them, the level the rewrite runs. */
export interface MatMulLevels {
  count: number;
  fileLevels: number[];
  /** null: the file's own levels. */
  runs: number | null;
}

export interface PlanOptions {
  /** Rewrite every MatMulNBits to this accuracy_level (null or absent: keep the file's). */
  matMulLevel?: number | null;
}

/** A language model made to also output each layer's new keys and values. */
export interface KvAppendGraph {
  matMul: MatMulLevels;
  form: AttentionForm;
  /** Which builder form the graph is (see readAttentionVariant). */
  variant: AttentionVariant;
  /** The rewritten model file, next to hard links to the original's data files. */
  path: string;
  /** Per layer, the names of the new key / value rows ([B, kvHeads, L, D], the graph's own dtype). */
  newKeys: string[];
  newValues: string[];
  /** Whether the rewrite came from the cache instead of reading the original file. */
  fromCache: boolean;
  /** Removes the rewrite when it is not kept in a cache (call once the session exists). */
  cleanup(): void;
}

export interface KvAppendRefusal {
  /** The attention form, when the graph has a known one but cannot be rewritten. */
  form: AttentionForm | null;
  variant: AttentionVariant | null;
  /** The file's 4-bit layers (runs null: a refused rewrite keeps them as they are); null when not read. */
  matMul: MatMulLevels | null;
  reason: string;
  fromCache: boolean;
}

export type KvAppendPlan = KvAppendGraph | KvAppendRefusal;
