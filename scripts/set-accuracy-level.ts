import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { setMatMulLevel } from '../src/model/matmul-accuracy.ts';

const USAGE = `Usage: npx tsx scripts/set-accuracy-level.ts FROM OUT LEVEL
Writes OUT, a copy of bundle FROM whose graphs' MatMulNBits nodes have accuracy_level LEVEL (0-4):
graphs with such nodes are re-encoded, every other file is hard-linked. For a generated fixture this
is what make-tiny-bundle --accuracy-level LEVEL writes with the same seed, without drawing the weights again.`;

function main(argv: string[]): number {
  const [from, out, levelText] = argv;
  const level = Number(levelText);
  if (!from || !out || !Number.isInteger(level) || level < 0 || level > 4) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let changed = 0;
  const copy = (dir: string) => {
    mkdirSync(join(out, dir), { recursive: true });
    for (const name of readdirSync(join(from, dir))) {
      const source = join(from, dir, name);
      if (statSync(source).isDirectory()) {
        copy(join(dir, name));
        continue;
      }
      if (name.endsWith('.onnx')) {
        const model = onnxProto.onnx.ModelProto.decode(readFileSync(source));
        const nodes = setMatMulLevel(model.graph!, level);
        if (nodes > 0) {
          writeFileSync(join(out, dir, name), onnxProto.onnx.ModelProto.encode(model).finish());
          changed += nodes;
          continue;
        }
      }
      linkSync(source, join(out, dir, name));
    }
  };
  copy('');
  process.stderr.write(`${out}: ${changed} MatMulNBits node(s) set to accuracy_level ${level}\n`);
  return 0;
}

process.exit(main(process.argv.slice(2)));
