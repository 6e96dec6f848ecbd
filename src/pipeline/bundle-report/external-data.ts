import type { GraphReport, ExternalDataReport, IssueSink } from './report.ts';

/** Graph files' external data sidecars against config.json's transformers.js_config.use_external_data_format. */

/** transformers.js' rule (utils/model-loader.js resolveExternalDataFormat): a map by full file name, then by graph name; else the value for every file. */
function declaredChunks(declared: unknown, file: string, graph: string): number {
  if (declared === null || declared === undefined || declared === false) return 0;
  if (typeof declared === 'object') {
    const map = declared as Record<string, unknown>;
    if (Object.hasOwn(map, file)) return Number(map[file]);
    if (Object.hasOwn(map, graph)) return Number(map[graph]);
    return 0;
  }
  return Number(declared);
}

export function externalData(
  config: Record<string, unknown> | null,
  graphs: GraphReport[],
  issue: IssueSink,
): ExternalDataReport {
  if (config === null) return { declared: null, files: [], agrees: true }; // config.json itself is reported
  const tjs = config['transformers.js_config'] as Record<string, unknown> | undefined;
  const declared = tjs && Object.hasOwn(tjs, 'use_external_data_format') ? tjs.use_external_data_format : null;
  const files: ExternalDataReport['files'] = [];
  let agrees = true;
  for (const g of graphs) {
    for (const v of g.variants) {
      const name = v.file.slice('onnx/'.length);
      const chunks = declaredChunks(declared, name, g.graph);
      files.push({ file: v.file, sidecars: v.sidecars, declaredChunks: chunks });
      if (chunks === v.sidecars.length) continue;
      agrees = false;
      if (chunks > v.sidecars.length) {
        issue('warning', 'config.json', `use_external_data_format gives ${name} ${chunks} data file(s) but ${v.sidecars.length} ${v.sidecars.length === 1 ? 'is' : 'are'} present; transformers.js (the benchmark's reference) then fails to find them`,
          v.sidecars.length === 0 ? `set "${name}": 0 in transformers.js_config.use_external_data_format (the file holds its weights inline), or download its .onnx_data` : `download the missing ${name}_data_N files`);
      } else {
        issue('warning', 'config.json', `use_external_data_format gives ${name} ${chunks} data file(s) but ${v.sidecars.join(', ')} ${v.sidecars.length === 1 ? 'is' : 'are'} present; this engine and transformers.js in Node still load it, transformers.js in a browser does not`,
          `set "${name}": ${v.sidecars.length} in transformers.js_config.use_external_data_format`);
      }
    }
  }
  return { declared: declared ?? null, files, agrees };
}
