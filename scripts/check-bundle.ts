import { parseArgs } from 'node:util';
import { checkBundle } from '../src/pipeline/bundle-report/check-bundle.ts';
import { reportLines } from '../src/pipeline/bundle-report/report-lines.ts';
import { GRAPH_NAMES, type GraphDtype, type GraphName } from '../src/bundle/contract.ts';
import { isGraphDtype } from '../src/bundle/load-bundle.ts';
import { DEVICES, type Device } from '../src/model-kinds.ts';

const USAGE = `Usage: npm run check-bundle -- DIR [--json] [--device cpu|cuda|webgpu] [--dtype GRAPH=DTYPE ...] [--exact] [--kv device|host]
Checks a model bundle folder: graphs and dtype variants, the variant each graph loads on cpu and
cuda, the language model's attention form, builder variant and KV strategy, its 4-bit layers'
accuracy level in the file and the one the engine runs (--exact: the file's own, as
personalize --exact and MATMUL_ACCURACY=file), what leaves the runtime each step for the KV
cache (--kv: where it lives on webgpu, as personalize --kv; device by default), special ids, chat
templates (and whether they write BOS), external data, and every deviation from the contract with
its fix. Exit code 0 when usable, 2 when not.`;

/** `npm run check-bundle`: one line per fact on stdout (or one JSON object), exit 2 when the bundle is not usable. */
async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        device: { type: 'string' },
        dtype: { type: 'string', multiple: true },
        exact: { type: 'boolean' },
        kv: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usage((err as Error).message.split('\n')[0]);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) return usage('give exactly one bundle folder');
  const device = (values.device as string | undefined) ?? 'cpu';
  if (!DEVICES.includes(device as Device)) return usage('--device must be cpu, cuda or webgpu');
  const kv = (values.kv as string | undefined) ?? 'device';
  if (kv !== 'device' && kv !== 'host') return usage('--kv must be device or host');
  const dtypes: Partial<Record<GraphName, GraphDtype>> = {};
  for (const entry of (values.dtype as string[] | undefined) ?? []) {
    const [graph, dtype] = entry.split('=');
    if (!(GRAPH_NAMES as readonly string[]).includes(graph) || !dtype || !isGraphDtype(dtype)) {
      return usage(`--dtype takes GRAPH=DTYPE (graphs: ${GRAPH_NAMES.join(', ')}), got "${entry}"`);
    }
    dtypes[graph as GraphName] = dtype;
  }

  const report = await checkBundle(positionals[0], { device: device as Device, dtypes, kv, ...(values.exact ? { matMulAccuracy: 'file' as const } : {}) });
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${reportLines(report).join('\n')}\n`);
  return report.usable ? 0 : 2;
}

function usage(message: string): number {
  process.stderr.write(`check-bundle: ${message}\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Not a bundle problem (those are in the report): a bug. One line, the stack only with DEBUG.
    process.stderr.write(`check-bundle: internal error: ${(err as Error)?.message ?? err}\n`);
    if (process.env.DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    process.exit(1);
  },
);
