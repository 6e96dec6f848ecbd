import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { joinNegativeValues } from '../src/cli/cli-args.ts';
import { startSandbox } from '../src/app/sandbox.ts';

const USAGE = `Usage: npm run sandbox -- [--port N] [--model DIR] [--data DIR]
A local Discord, the bot and a web client in one process: open the URL it prints.
Without --model (or MODEL_DIR) a random-weight test bundle is generated once under the data folder
(default data/sandbox); its images are noise. The engine's rewritten graphs are kept there too
(graph-cache/), unless XCOT_GRAPH_CACHE names another folder.`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({ args: joinNegativeValues(process.argv.slice(2), new Set(['--port'])), options: { port: { type: 'string', default: '0' }, model: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (err) {
    fail((err as Error).message.split('\n')[0]);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  // Decimal digits only: Number() would also take 0x10, 1e3 or an empty string.
  const port = /^\d{1,5}$/.test(values.port) ? Number(values.port) : NaN;
  if (!(port >= 0 && port <= 65535)) fail('--port must be a whole number from 0 to 65535');
  const modelDir = values.model ?? (process.env.MODEL_DIR || undefined);
  if (!modelDir) process.stderr.write('No --model or MODEL_DIR: using the random-weight test bundle (generated on first run).\n');
  const dataDir = resolve(values.data ?? 'data/sandbox');
  // Set before the configuration is read: the engine's worker threads get it from there.
  process.env.XCOT_GRAPH_CACHE ||= join(dataDir, 'graph-cache');
  const sandbox = await startSandbox({ port, modelDir, dataDir, env: process.env });
  console.log(`Sandbox ready: ${sandbox.url}`);
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    sandbox.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

main().catch((err) => {
  process.stderr.write(`sandbox: ${(err as Error)?.message ?? err}\n`);
  process.exit(1);
});
