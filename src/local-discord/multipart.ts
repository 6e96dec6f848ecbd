import { errors } from './errors.ts';

export interface UploadedFile {
  /** n from the `files[n]` form field, which `attachments[].id` refers to. */
  index: number | null;
  field: string;
  filename: string;
  declaredType: string;
  bytes: Buffer;
}

export interface ParsedBody {
  json: unknown;
  files: UploadedFile[];
}

/** Parses a JSON or multipart/form-data (payload_json + files[n]) request body. */
export async function parseBody(contentType: string | undefined, raw: Buffer): Promise<ParsedBody> {
  if (raw.length === 0) return { json: undefined, files: [] };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return parseMultipart(contentType!, raw);
  if (!type.startsWith('application/json')) throw errors.invalidJson();
  return { json: parseJson(raw.toString('utf8')), files: [] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw errors.invalidJson();
  }
}

/** Uses undici's spec-compliant form parser behind Node's global Request. */
async function parseMultipart(contentType: string, raw: Buffer): Promise<ParsedBody> {
  const request = new Request('http://emulator.invalid/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: new Blob([new Uint8Array(raw)]),
  });
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw errors.invalidJson();
  }
  const files: UploadedFile[] = [];
  const fields: Record<string, unknown> = {};
  let json: unknown;
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') {
      if (field === 'payload_json') json = parseJson(value);
      else fields[field] = value;
      continue;
    }
    const index = /^files\[(\d+)\]$/.exec(field);
    files.push({
      index: index ? Number(index[1]) : null,
      field,
      filename: value.name,
      declaredType: value.type,
      bytes: Buffer.from(await value.arrayBuffer()),
    });
  }
  // Discord also accepts plain form fields (e.g. `content`) when there is no payload_json.
  return { json: json ?? (Object.keys(fields).length > 0 ? fields : undefined), files };
}
