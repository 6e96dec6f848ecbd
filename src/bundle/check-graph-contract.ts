import type { InferenceSession } from 'onnxruntime-common';
import { BundleError } from '../errors.ts';
import { GRAPH_IO, type GraphName } from './contract.ts';

type Meta = InferenceSession.ValueMetadata;
interface Expect {
  name: string;
  types: string[];
  rank: number;
}

const FLOAT = ['float32', 'float16'];
const INT64 = ['int64'];
const BOOL = ['bool'];

/** What each graph must declare (by name, element type, rank). Sizes are read, not checked here. */
function expectations(graph: GraphName, inputs: readonly Meta[]): { inputs: Expect[]; outputs: Expect[] } {
  switch (graph) {
    case 'prepare_inputs_embeds': {
      const io = GRAPH_IO.prepare_inputs_embeds;
      return {
        inputs: [
          { name: io.inputIds, types: INT64, rank: 2 },
          { name: io.pixelValues, types: FLOAT, rank: 5 },
          { name: io.imagesSeqMask, types: BOOL, rank: 2 },
          { name: io.imagesEmbMask, types: BOOL, rank: 3 },
        ],
        outputs: [{ name: io.inputsEmbeds, types: FLOAT, rank: 3 }],
      };
    }
    case 'language_model': {
      const io = GRAPH_IO.language_model;
      const layers = inputs.filter((m) => /^past_key_values\.\d+\.key$/.test(m.name)).length;
      const kv: Expect[] = [];
      const present: Expect[] = [];
      for (let i = 0; i < layers; i++) {
        kv.push({ name: io.pastKey(i), types: FLOAT, rank: 4 }, { name: io.pastValue(i), types: FLOAT, rank: 4 });
        present.push({ name: io.presentKey(i), types: FLOAT, rank: 4 }, { name: io.presentValue(i), types: FLOAT, rank: 4 });
      }
      if (layers === 0) kv.push({ name: io.pastKey(0), types: FLOAT, rank: 4 });
      return {
        inputs: [
          { name: io.inputsEmbeds, types: FLOAT, rank: 3 },
          { name: io.attentionMask, types: INT64, rank: 2 },
          ...kv,
        ],
        outputs: [{ name: io.hiddenStates, types: FLOAT, rank: 3 }, ...present],
      };
    }
    case 'lm_head':
    case 'gen_head':
      return {
        inputs: [{ name: GRAPH_IO[graph].hiddenStates, types: FLOAT, rank: 3 }],
        outputs: [{ name: GRAPH_IO[graph].logits, types: FLOAT, rank: 3 }],
      };
    case 'gen_img_embeds':
      return {
        inputs: [{ name: GRAPH_IO.gen_img_embeds.imageIds, types: INT64, rank: 2 }],
        outputs: [{ name: GRAPH_IO.gen_img_embeds.inputsEmbeds, types: FLOAT, rank: 3 }],
      };
    case 'image_decode':
      return {
        inputs: [{ name: GRAPH_IO.image_decode.generatedTokens, types: INT64, rank: 2 }],
        outputs: [{ name: GRAPH_IO.image_decode.decodedImage, types: FLOAT, rank: 4 }],
      };
  }
}

/** Throws a BundleError naming the first input or output that does not match the contract. */
export function checkGraphContract(graph: GraphName, session: InferenceSession, file: string): void {
  const want = expectations(graph, session.inputMetadata);
  check(file, 'input', want.inputs, session.inputMetadata);
  check(file, 'output', want.outputs, session.outputMetadata);
}

function check(file: string, kind: string, want: Expect[], have: readonly Meta[]): void {
  for (const w of want) {
    const m = have.find((x) => x.name === w.name);
    if (!m) {
      throw new BundleError('graph_mismatch', `${file} does not match the bundle contract: no ${kind} named "${w.name}".`);
    }
    if (!m.isTensor || !w.types.includes(m.type) || m.shape.length !== w.rank) {
      const got = m.isTensor ? `${m.type} of rank ${m.shape.length}` : 'a non-tensor';
      throw new BundleError(
        'graph_mismatch',
        `${file} does not match the bundle contract: ${kind} "${w.name}" is ${got}, expected ${w.types.join(' or ')} of rank ${w.rank}.`,
      );
    }
  }
}
