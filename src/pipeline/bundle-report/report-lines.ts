import { VARIANT_TEXT } from '../../model/attention-form.ts';
import type { Device } from '../../bundle/load-bundle.ts';
import type { BundleReport, KvStrategy, TokenRef } from './report.ts';

/** The report as lines of text, one fact or problem each. */
export function reportLines(r: BundleReport): string[] {
  const lines: string[] = [];
  const errors = r.issues.filter((i) => i.severity === 'error');
  const warnings = r.issues.filter((i) => i.severity === 'warning');
  lines.push(`bundle ${r.dir}: ${r.usable ? 'usable' : 'NOT usable'} on ${r.device}${errors.length ? `, ${errors.length} problem(s)` : ''}${warnings.length ? `, ${warnings.length} warning(s)` : ''}`);
  if (r.deviceNote) lines.push(`device: ${r.deviceNote}`);
  for (const g of r.graphs) {
    const variants = g.variants.length ? g.variants.map((v) => `${v.dtype} ${mb(v.bytes + v.sidecarBytes)}`).join(', ') : 'none';
    const choice = (d: Device) => (g[d].dtype ? `${g[d].dtype} (${g[d].why})` : `none (${g[d].why})`);
    const opened = g.opened && g.opened.file !== g[r.device].file ? `; ${g.opened.file} is loaded` : '';
    lines.push(`graph ${g.graph}: variants ${variants}; cpu loads ${choice('cpu')}; cuda loads ${choice('cuda')}; webgpu loads ${choice('webgpu')}${opened}`);
  }
  for (const o of r.otherFiles) lines.push(`file ${o.file}: ${o.note}`);
  const lm = r.languageModel;
  if (lm.file) {
    const form = lm.form ?? 'unknown';
    const kv = kvLine(lm.kvStrategy, lm.kvWhy);
    const cache = lm.fromCache === null ? '' : lm.fromCache ? '; plan read from the rewrite cache' : '; graph decoded once, plan cached';
    lines.push(`language model ${lm.file}: ${form} attention; KV: ${kv}${cache}`);
    if (lm.variant) lines.push(`language model form: ${VARIANT_TEXT[lm.variant]}`);
    if (lm.matMul?.count) {
      const m = lm.matMul;
      lines.push(`language model 4-bit layers: ${m.count} MatMulNBits, accuracy_level ${m.fileLevels.join('/')} in the file; runs at ${m.runs ?? m.fileLevels.join('/')}: ${m.why}`);
    }
    const pos = lm.positionIds === null ? 'not read (npm run check-bundle reads it)' : lm.positionIds ? 'declared (fed from the mask)' : 'not declared';
    const uncond = lm.unconditionalRow === null ? 'unknown'
      : lm.unconditionalRow ? 'can run' : 'cannot run (GroupQueryAttention reads only each row\'s count of ones): use --uncond janus';
    lines.push(`language model inputs: position_ids ${pos}; transformers.js' unconditional row (attention 0 everywhere): ${uncond}${lm.hiddenStatesType ? `; hidden_states ${lm.hiddenStatesType}` : ''}`);
  }
  const s = r.sizes;
  const size = [
    s.hidden !== undefined && `hidden ${s.hidden}`,
    s.layers !== undefined && `${s.layers} layers`,
    s.kvHeads !== undefined && `${s.kvHeads} KV heads x ${s.headDim ?? '?'}`,
    s.textVocab !== undefined && `text vocab ${s.textVocab}`,
    s.codebook !== undefined && `codebook ${s.codebook}`,
    s.imageSize !== undefined && `image ${s.imageSize} px`,
    s.imageTokens !== undefined && `${s.imageTokens} image tokens`,
  ].filter(Boolean);
  if (size.length) lines.push(`sizes: ${size.join(', ')}`);
  if (r.specialIds) {
    const t = (x: TokenRef) => (x.id === null ? 'missing' : `${x.id}${x.token ? ` ${x.token}` : ''}`);
    const ids = r.specialIds;
    lines.push(`special ids: bos ${t(ids.bos)}, eos ${t(ids.eos)}, CFG pad ${t(ids.cfgPad)} (${ids.cfgPad.source}; the tokenizer's pad is ${t(ids.tokenizerPad)}), image start ${t(ids.imageStart)}, end ${t(ids.imageEnd)}, placeholder ${t(ids.imagePlaceholder)}`);
  }
  const ct = r.chatTemplates;
  if (r.graphs.length) lines.push(`chat templates: ${ct.names.length ? ct.names.join(', ') : 'none'}${ct.form === 'none' ? '' : ` (chat_template as ${ct.form === 'list' ? 'a list of {name, template}' : ct.form === 'object' ? 'an object name -> template' : 'one string, named default'})`}${bosNote(ct.bos)}`);
  const ext = r.externalData;
  const withData = ext.files.filter((f) => f.sidecars.length);
  if (r.graphs.length) lines.push(`external data: ${withData.length ? withData.map((f) => `${f.file} (${f.sidecars.length} file${f.sidecars.length > 1 ? 's' : ''})`).join(', ') : 'no sidecars'}; config.json use_external_data_format ${ext.declared === null ? 'absent' : JSON.stringify(ext.declared)} ${ext.agrees ? 'agrees with the files' : 'disagrees with the files (see warnings)'}`);
  for (const i of r.issues) lines.push(`${i.severity} ${i.file}: ${i.problem}; fix: ${i.fix}`);
  return lines;
}

/** What leaves the runtime each step for the KV cache, as the strategy decides. */
function kvLine(strategy: KvStrategy | null, why: string): string {
  switch (strategy) {
    case 'on-device':
      return `the cache stays in WebGPU memory; device graphs write each step's new rows there and only the hidden state is fetched (${why})`;
    case 'new-rows':
      return `only each step's new rows are fetched (${why})`;
    case 'whole-present':
      return `the whole present cache is fetched each step (${why})`;
    default:
      return `not determined (${why})`;
  }
}

function bosNote(bos: BundleReport['chatTemplates']['bos']): string {
  if (!bos || bos.writes.length + bos.omits.length === 0) return '';
  if (bos.omits.length === 0) return `; BOS written by ${bos.writes.join(' and ')} (as transformers.js feeds it)`;
  return `; BOS not written by ${bos.omits.join(' and ')}: the engine puts it first, as the official recipe does (transformers.js feeds no BOS there, so its tokens differ)`;
}

function mb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}
