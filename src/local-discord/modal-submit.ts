import type { JsonObject } from './state.ts';

/** What a user typed or picked, by custom_id: text, selected values, or uploaded attachments. */
export type ModalValue = string | string[] | { id: string }[];

export interface ModalSubmission {
  components: JsonObject[];
  attachmentIds: string[];
}

/**
 * Fills the modal the bot sent with the user's values, shaped like Discord's MODAL_SUBMIT data, and
 * refuses submissions the Discord client would not let through (missing required fields, bad lengths).
 */
export function fillModal(modal: JsonObject, values: Record<string, ModalValue>): ModalSubmission {
  let nextId = 1;
  const attachmentIds: string[] = [];
  const unused = new Set(Object.keys(values));

  const fill = (component: JsonObject): JsonObject => {
    const id = typeof component.id === 'number' ? component.id : nextId;
    nextId = Math.max(nextId, id) + 1;
    if (component.type === 1) return { type: 1, id, components: children(component).map(fill) };
    if (component.type === 18) return { type: 18, id, component: fill(component.component as JsonObject) };
    if (component.type === 10) return { type: 10, id };
    const customId = String(component.custom_id);
    unused.delete(customId);
    return { ...fillInput(component, values[customId], attachmentIds), id };
  };

  const components = children(modal).map(fill);
  if (unused.size > 0) throw new Error(`Modal has no inputs named ${[...unused].join(', ')}`);
  return { components, attachmentIds };
}

function children(component: JsonObject): JsonObject[] {
  return Array.isArray(component.components) ? (component.components as JsonObject[]) : [];
}

function fillInput(input: JsonObject, value: ModalValue | undefined, attachmentIds: string[]): JsonObject {
  const customId = String(input.custom_id);
  const required = input.required !== false;
  if (input.type === 4) {
    const text = typeof value === 'string' ? value : '';
    checkTextInput(input, text, required);
    return { type: 4, custom_id: customId, value: text };
  }
  const picked = Array.isArray(value) ? value : value === undefined ? [] : [value];
  const ids = picked.map((v) => (typeof v === 'string' ? v : v.id));
  const min = typeof input.min_values === 'number' ? input.min_values : required ? 1 : 0;
  const max = typeof input.max_values === 'number' ? input.max_values : 1;
  if (ids.length < min || ids.length > max) throw new Error(`Input "${customId}" needs between ${min} and ${max} values, got ${ids.length}`);
  if (input.type === 19) attachmentIds.push(...ids);
  return { type: input.type, custom_id: customId, values: ids };
}

function checkTextInput(input: JsonObject, text: string, required: boolean): void {
  const customId = String(input.custom_id);
  // Characters as Discord counts them: code points (an emoji is one).
  const length = [...text].length;
  if (required && length === 0) throw new Error(`Text input "${customId}" is required`);
  if (typeof input.min_length === 'number' && length > 0 && length < input.min_length) {
    throw new Error(`Text input "${customId}" needs at least ${input.min_length} characters`);
  }
  if (typeof input.max_length === 'number' && length > input.max_length) {
    throw new Error(`Text input "${customId}" allows at most ${input.max_length} characters`);
  }
}
