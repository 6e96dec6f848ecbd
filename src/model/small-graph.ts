import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX element types the engine's own small graphs use. */
export const ElemType = {
  float: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
} as const;
export type ElemTypeCode = (typeof ElemType)[keyof typeof ElemType];

/**
 * A small ONNX model written node by node (opset 17, no weights): the device-side KV operations and
 * the WebGPU probe. The rank of every value is given; sizes are symbolic.
 */
export class SmallGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  input(name: string, type: ElemTypeCode, rank: number): string {
    this.inputs.push(valueInfo(name, type, rank));
    return name;
  }

  output(name: string, type: ElemTypeCode, rank: number): void {
    this.outputs.push(valueInfo(name, type, rank));
  }

  /** A node with one output, named `out` or a fresh name. */
  node(type: string, inputs: string[], attrs: Record<string, number> = {}, out?: string): string {
    const output = out ?? `${type}_${this.counter++}`;
    this.nodes.push({
      opType: type,
      name: `${type}_node_${this.counter++}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => ({ name: k, type: onnx.AttributeProto.AttributeType.INT, i: v })),
    });
    return output;
  }

  constInt(values: number[]): string {
    const name = `const_${this.counter++}`;
    const data = BigInt64Array.from(values.map(BigInt));
    this.initializers.push({ name, dataType: ElemType.int64, dims: [values.length], rawData: new Uint8Array(data.buffer) });
    return name;
  }

  encode(): Uint8Array {
    return onnx.ModelProto.encode({
      irVersion: 8,
      producerName: 'xcot-engine',
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers },
    }).finish();
  }
}

function valueInfo(name: string, type: ElemTypeCode, rank: number): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: type, shape: { dim: Array.from({ length: rank }, (_, i) => ({ dimParam: `${name}_d${i}` })) } } } };
}
