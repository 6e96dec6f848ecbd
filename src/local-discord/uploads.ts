import { errors, issue, type FieldIssue } from './errors.ts';
import { sniffFile } from './image-info.ts';
import type { UploadedFile } from './multipart.ts';
import type { EmulatorState, FileRecord, JsonObject } from './state.ts';

/** The attachment list a message will have, once the upload is accepted. */
export interface AttachmentPlan {
  /** Ids of existing attachments to keep, in order. */
  keep: string[];
  /** Uploaded files to store, with the filename/description the payload gave them. */
  add: { file: UploadedFile; filename: string; description?: string }[];
}

/**
 * Matches `attachments[]` in the payload to the uploaded `files[n]` parts (and, on edits, to existing
 * attachments) the way Discord does, reporting mismatches instead of guessing.
 */
export function planAttachments(
  body: JsonObject,
  files: UploadedFile[],
  existing: string[],
  sizeLimit: number,
  base: FieldIssue['path'] = [],
): AttachmentPlan {
  for (const file of files) if (file.bytes.length > sizeLimit) throw errors.tooLarge();
  const listed = Array.isArray(body.attachments) ? (body.attachments as JsonObject[]) : undefined;
  if (!listed) return { keep: existing, add: files.map((file) => ({ file, filename: file.filename })) };
  const plan: AttachmentPlan = { keep: [], add: [] };
  const issues: FieldIssue[] = [];
  const used = new Set<UploadedFile>();
  listed.forEach((entry, i) => {
    const id = String(entry.id);
    const upload = files.find((f) => f.index !== null && String(f.index) === id);
    if (upload && !used.has(upload)) {
      used.add(upload);
      const filename = typeof entry.filename === 'string' ? entry.filename : upload.filename;
      plan.add.push({ file: upload, filename, description: typeof entry.description === 'string' ? entry.description : undefined });
    } else if (existing.includes(id) && !plan.keep.includes(id)) {
      plan.keep.push(id);
    } else {
      issues.push(issue([...base, 'attachments', i, 'id'], 'ATTACHMENT_NOT_FOUND', `Unknown attachment id ${id}: no files[${id}] part and no such existing attachment`));
    }
  });
  for (const file of files) {
    if (!used.has(file)) {
      issues.push(issue([...base, 'attachments'], 'ATTACHMENT_NOT_REFERENCED', `Uploaded part ${file.field} is not listed in attachments[]`));
    }
  }
  if (issues.length > 0) throw errors.invalidFormBody(issues);
  return plan;
}

/** Stores accepted uploads (bytes kept for the CDN and for tests) and returns their ids. */
export function storeUploads(state: EmulatorState, channelId: string, plan: AttachmentPlan, ephemeral = false): string[] {
  return plan.add.map(({ file, filename, description }) => {
    const record = fileRecord(state, channelId, file.bytes, filename, file.declaredType, ephemeral);
    if (description !== undefined) record.description = description;
    return record.id;
  });
}

export function fileRecord(
  state: EmulatorState,
  channelId: string,
  bytes: Buffer,
  filename: string,
  declaredType: string | undefined,
  ephemeral: boolean,
): FileRecord {
  const info = sniffFile(bytes, filename, declaredType);
  const record: FileRecord = {
    id: state.ids.next(),
    channelId,
    filename: sanitizeFilename(filename),
    contentType: info.contentType,
    bytes,
    ephemeral,
    ...(info.width !== undefined ? { width: info.width, height: info.height } : {}),
  };
  state.files.set(record.id, record);
  return record;
}

/** Discord replaces characters outside [A-Za-z0-9._-] in attachment filenames. */
function sanitizeFilename(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return clean.length > 0 ? clean : 'unknown';
}
