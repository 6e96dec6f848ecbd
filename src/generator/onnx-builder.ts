import onnxProto from 'onnx-proto';
import { toHalf } from '../model/float16.ts';

const { onnx } = onnxProto;

export const DType = {
  float: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
} as const;
export type DTypeCode = (typeof DType)[keyof typeof DType];

/** A dimension is a fixed size or a symbolic name, as in the public exports ("batch_size"). */
export type Dim = number | string;
/** Plain numbers are INT attributes; floats are written `{ float: x }` so 1.0 stays a float. */
export type AttrValue = number | string | number[] | { float: number } | { tensor: Tensor };

/** fp32: float MatMuls; q4: 4-bit MatMulNBits; q4f16: 4-bit MatMulNBits with float16 activations (the public _q4f16 files). */
export type WeightFormat = 'fp32' | 'q4' | 'q4f16';

export interface Tensor {
  dtype: DTypeCode;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

interface Initializer extends Tensor {
  name: string;
}

/**
 * Builds one ONNX graph node by node. Node outputs get unique names unless given; weights are
 * initializers that the writer can move to an `.onnx_data` sidecar like the public exports do.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly usedDomains = new Set<string>();
  private counter = 0;

  /**
   * @param weights how linear layers store weights: plain float MatMul, or 4-bit MatMulNBits.
   */
  constructor(readonly name: string, readonly weights: WeightFormat = 'fp32', readonly opset = 17) {}

  /** The element type of activations and float weights: float16 in a q4f16 graph. */
  get floatType(): DTypeCode {
    return this.weights === 'q4f16' ? DType.float16 : DType.float;
  }

  /** A float initializer stored in the graph's float type (float32 values rounded to half in q4f16). */
  floatWeight(name: string, dims: number[], data: Float32Array): string {
    return this.weight(name, this.floatType === DType.float16 ? { dtype: DType.float16, dims, data: toHalf(data) } : { dtype: DType.float, dims, data });
  }

  input(name: string, dtype: DTypeCode, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  output(name: string, dtype: DTypeCode, shape: Dim[]): void {
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /** Adds a node; returns its output names (one unless `outputs` says more). */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1, domain = ''): string[] {
    const outNames = typeof outputs === 'number'
      ? Array.from({ length: outputs }, () => this.fresh(type))
      : outputs;
    if (domain) this.usedDomains.add(domain);
    this.nodes.push({
      opType: type,
      domain,
      name: this.fresh(`${type}_node`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outNames;
  }

  /** Single-output shorthand. */
  o(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.op(type, inputs, attrs, 1, domain)[0];
  }

  /** Same node, but with a chosen output name (for graph outputs). */
  named(name: string, type: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(type, inputs, attrs, [name])[0];
  }

  /**
   * Sets accuracy_level on every MatMulNBits node so far: 0 computes in float32 (onnxruntime-genai's
   * builder default until February 2025), 4 quantizes activations to int8 (its later cpu default).
   */
  setMatMulNBitsAccuracy(level: number): void {
    for (const node of this.nodes) {
      if (node.opType !== 'MatMulNBits') continue;
      node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== 'accuracy_level'), attribute('accuracy_level', level)];
    }
  }

  weight(name: string, tensor: Tensor): string {
    this.initializers.push({ name, ...tensor });
    return name;
  }

  constInt(values: number[], dims: number[] = [values.length]): string {
    return this.weight(this.fresh('const_i64'), { dtype: DType.int64, dims, data: BigInt64Array.from(values.map(BigInt)) });
  }

  constFloat(values: number[], dims: number[] = [values.length]): string {
    return this.weight(this.fresh('const_f32'), { dtype: DType.float, dims, data: Float32Array.from(values) });
  }

  private fresh(prefix: string): string {
    return `/${this.name}/${prefix}_${this.counter++}`;
  }

  /**
   * Serializes the model. Initializers of at least `externalThreshold` bytes go to `sidecarName`
   * (the ONNX external-data layout), so `model` and `sidecar` are written side by side.
   */
  build(sidecarName?: string, externalThreshold = 1024): { model: Uint8Array; sidecar?: Uint8Array } {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const initializer = this.initializers.map((t) => {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const proto: onnxProto.onnx.ITensorProto = { name: t.name, dataType: t.dtype, dims: t.dims };
      if (sidecarName && bytes.byteLength >= externalThreshold) {
        // Keep each tensor 64-byte aligned in the sidecar, as the ONNX external-data writer does.
        const pad = (64 - (offset % 64)) % 64;
        if (pad) chunks.push(new Uint8Array(pad));
        offset += pad;
        proto.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        proto.externalData = [
          { key: 'location', value: sidecarName },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.byteLength) },
        ];
        chunks.push(bytes);
        offset += bytes.byteLength;
      } else {
        proto.rawData = bytes;
      }
      return proto;
    });
    const opsetImport = [{ domain: '', version: this.opset }];
    for (const d of this.usedDomains) opsetImport.push({ domain: d, version: 1 });
    const model = onnx.ModelProto.encode({
      irVersion: 8,
      producerName: 'xcot-tiny-bundle',
      producerVersion: '1',
      opsetImport,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer,
        input: this.inputs,
        output: this.outputs,
      },
    }).finish();
    const sidecar = chunks.length ? concat(chunks, offset) : undefined;
    return { model, sidecar };
  }
}

function valueInfo(name: string, dtype: DTypeCode, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: dtype,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  const t = v.tensor;
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, type: T.TENSOR, t: { dataType: t.dtype, dims: t.dims, rawData: bytes } };
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
