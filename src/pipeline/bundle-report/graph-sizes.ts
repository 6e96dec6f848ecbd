import type { InferenceSession } from 'onnxruntime-common';
import { GRAPH_IO, type GraphName } from '../../bundle/contract.ts';
import type { Ctx } from './bundle-files.ts';
import { FIX_SIZES, type BundleReport, type BundleSizes } from './report.ts';

/** The model's sizes as each graph declares them, checked against each other and against the JSON files. */

export function readGraphSizes(report: BundleReport, graph: GraphName, session: InferenceSession, file: string): void {
  const s = report.sizes;
  const dim = (meta: InferenceSession.ValueMetadata | undefined, axis: number): number | undefined => {
    const d = meta?.isTensor ? meta.shape[axis] : undefined;
    return typeof d === 'number' ? d : undefined;
  };
  const input = (name: string) => session.inputMetadata.find((m) => m.name === name);
  const output = (name: string) => session.outputMetadata.find((m) => m.name === name);
  const agree = (what: string, have: number | undefined, key: keyof BundleSizes, source: string) => {
    if (have === undefined) return;
    const want = s[key];
    if (want === undefined) {
      s[key] = have;
    } else if (want !== have) {
      report.issues.push({ severity: 'error', file, problem: `${what} is ${have} but ${source} says ${want}`, fix: FIX_SIZES });
    }
  };
  switch (graph) {
    case 'language_model': {
      const io = GRAPH_IO.language_model;
      const past = session.inputMetadata.filter((m) => /^past_key_values\.\d+\.key$/.test(m.name));
      s.layers = past.length;
      agree('inputs_embeds hidden size', dim(input(io.inputsEmbeds), 2), 'hidden', 'another graph');
      s.kvHeads = dim(past[0], 1);
      s.headDim = dim(past[0], 3);
      report.languageModel.positionIds = session.inputNames.includes(io.positionIds);
      const hs = output(io.hiddenStates);
      if (hs?.isTensor) report.languageModel.hiddenStatesType = hs.type;
      break;
    }
    case 'prepare_inputs_embeds': {
      const io = GRAPH_IO.prepare_inputs_embeds;
      agree('inputs_embeds hidden size', dim(output(io.inputsEmbeds), 2), 'hidden', 'language_model inputs_embeds');
      agree('pixel_values image size', dim(input(io.pixelValues), 3), 'imageSize', 'preprocessor_config.json image_size');
      break;
    }
    case 'lm_head':
      agree('hidden_states size', dim(input(GRAPH_IO.lm_head.hiddenStates), 2), 'hidden', 'language_model inputs_embeds');
      s.textVocab = dim(output(GRAPH_IO.lm_head.logits), 2);
      break;
    case 'gen_head':
      agree('hidden_states size', dim(input(GRAPH_IO.gen_head.hiddenStates), 2), 'hidden', 'language_model inputs_embeds');
      s.codebook = dim(output(GRAPH_IO.gen_head.logits), 2);
      break;
    case 'gen_img_embeds':
      agree('inputs_embeds hidden size', dim(output(GRAPH_IO.gen_img_embeds.inputsEmbeds), 2), 'hidden', 'language_model inputs_embeds');
      break;
    case 'image_decode':
      agree('generated_tokens length', dim(input(GRAPH_IO.image_decode.generatedTokens), 1), 'imageTokens', 'processor_config.json num_image_tokens');
      agree('decoded_image size', dim(output(GRAPH_IO.image_decode.decodedImage), 3), 'imageSize', 'preprocessor_config.json image_size');
      break;
  }
}

/** Sizes read from the graphs (or the engine) against config.json and the other JSON files. */
export function compareSizes(report: BundleReport, ctx: Ctx): void {
  const s = report.sizes;
  const lc = (ctx.config?.language_config ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const params = (key: string) => num(((ctx.config?.[key] as { params?: Record<string, unknown> } | undefined)?.params ?? {}).image_token_size);
  const vision = ctx.config?.vision_config as { image_size?: unknown; params?: { image_size?: unknown } } | undefined;
  const heads = num(lc.num_attention_heads);
  const checks: [string, number | undefined, string, number | undefined][] = [
    ['hidden size', s.hidden, 'language_config.hidden_size', num(lc.hidden_size)],
    ['layer count', s.layers, 'language_config.num_hidden_layers', num(lc.num_hidden_layers)],
    ['KV heads', s.kvHeads, lc.num_key_value_heads !== undefined ? 'language_config.num_key_value_heads' : 'language_config.num_attention_heads', num(lc.num_key_value_heads) ?? heads],
    ['head dim', s.headDim, 'language_config.head_dim', num(lc.head_dim) ?? (heads && num(lc.hidden_size) ? num(lc.hidden_size)! / heads : undefined)],
    ['text vocab', s.textVocab, 'language_config.vocab_size', num(lc.vocab_size)],
    ['codebook', s.codebook, 'gen_head_config.params.image_token_size', params('gen_head_config')],
    ['codebook', s.codebook, 'gen_vision_config.params.image_token_size', params('gen_vision_config')],
    ['image size', s.imageSize, 'vision_config image_size', num(vision?.image_size) ?? num(vision?.params?.image_size)],
  ];
  for (const [what, have, field, want] of checks) {
    if (have !== undefined && want !== undefined && have !== want) {
      const graph = what === 'text vocab' ? 'lm_head' : what === 'codebook' ? 'gen_head' : what === 'image size' ? 'preprocessor_config.json' : 'language_model';
      report.issues.push({ severity: 'error', file: 'config.json', problem: `${field} is ${want} but the ${what} of ${graph} is ${have}`, fix: FIX_SIZES });
    }
  }
  const genTokens = ctx.generation?.num_image_tokens;
  if (genTokens !== undefined && s.imageTokens !== undefined && genTokens !== s.imageTokens) {
    report.issues.push({ severity: 'error', file: 'generation_config.json', problem: `num_image_tokens is ${genTokens} but processor_config.json says ${s.imageTokens}`, fix: FIX_SIZES });
  }
  if (report.specialIds && s.textVocab !== undefined) {
    for (const [name, ref] of Object.entries(report.specialIds)) {
      if (ref.id !== null && ref.id >= s.textVocab) {
        const file = ['bos', 'eos', 'cfgPad'].includes(name) ? 'generation_config.json' : 'tokenizer.json';
        report.issues.push({ severity: 'error', file, problem: `${name} id ${ref.id} is outside the text vocabulary (${s.textVocab}) the embeddings and lm_head hold`, fix: FIX_SIZES });
      }
    }
  }
}
