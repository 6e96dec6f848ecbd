import { issue, type FieldIssue } from './errors.ts';
import type { JsonObject } from './state.ts';

/**
 * Discord's hard limits that the OpenAPI schemas do not (fully) express:
 * bot content is 2000 chars (the spec allows 4000 for Nitro users), 5 action rows of 5 buttons, unique
 * custom ids, the 6000-char embed total, modal and autocomplete sizes, command naming rules.
 */
type Path = FieldIssue['path'];

export const IS_COMPONENTS_V2 = 1 << 15;
const SELECT_TYPES = new Set([3, 5, 6, 7, 8]);

const maxLength = (path: Path, value: unknown, max: number): FieldIssue[] =>
  typeof value === 'string' && [...value].length > max
    ? [{ path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${max} or fewer in length.` }]
    : [];

const lengthBetween = (path: Path, value: unknown, min: number, max: number): FieldIssue[] => {
  const length = typeof value === 'string' ? [...value].length : Array.isArray(value) ? value.length : -1;
  return length >= 0 && (length < min || length > max)
    ? [{ path, code: 'BASE_TYPE_BAD_LENGTH', message: `Must be between ${min} and ${max} in length.` }]
    : [];
};

const maxItems = (path: Path, value: unknown, max: number): FieldIssue[] =>
  Array.isArray(value) && value.length > max
    ? [{ path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${max} or fewer in length.` }]
    : [];

const objects = (value: unknown): JsonObject[] =>
  Array.isArray(value) ? value.filter((v): v is JsonObject => typeof v === 'object' && v !== null) : [];

/** Limits for anything that creates or edits a message. `fileCount` counts the uploaded files. */
export function messageLimits(body: JsonObject, fileCount: number, base: Path = []): FieldIssue[] {
  const flags = typeof body.flags === 'number' ? body.flags : 0;
  return [
    ...maxLength([...base, 'content'], body.content, 2000),
    ...embedLimits(body.embeds, [...base, 'embeds']),
    ...componentLimits(body.components, (flags & IS_COMPONENTS_V2) !== 0, [...base, 'components']),
    ...maxItems([...base, 'attachments'], body.attachments, 10),
    ...(fileCount > 10 ? [issue([...base, 'files'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.')] : []),
    ...(flags & IS_COMPONENTS_V2 && (body.content || (Array.isArray(body.embeds) && body.embeds.length > 0))
      ? [issue([...base, 'content'], 'MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2', 'The content and embeds fields cannot be used with IS_COMPONENTS_V2')]
      : []),
  ];
}

/** A new message needs something to show (edits may clear fields, so they are not checked). */
export function isEmptyMessage(body: JsonObject, fileCount: number): boolean {
  const has = (key: string) => (Array.isArray(body[key]) ? (body[key] as unknown[]).length > 0 : Boolean(body[key]));
  return fileCount === 0 && !['content', 'embeds', 'components', 'sticker_ids', 'poll', 'attachments'].some(has);
}

function embedLimits(embeds: unknown, path: Path): FieldIssue[] {
  const issues = maxItems(path, embeds, 10);
  let total = 0;
  objects(embeds).forEach((embed, i) => {
    const at = [...path, i];
    const fields = objects(embed.fields);
    const footer = (embed.footer ?? {}) as JsonObject;
    const author = (embed.author ?? {}) as JsonObject;
    issues.push(
      ...maxLength([...at, 'title'], embed.title, 256),
      ...maxLength([...at, 'description'], embed.description, 4096),
      ...maxItems([...at, 'fields'], embed.fields, 25),
      ...maxLength([...at, 'footer', 'text'], footer.text, 2048),
      ...maxLength([...at, 'author', 'name'], author.name, 256),
    );
    fields.forEach((field, j) => {
      issues.push(...lengthBetween([...at, 'fields', j, 'name'], field.name, 1, 256));
      issues.push(...lengthBetween([...at, 'fields', j, 'value'], field.value, 1, 1024));
    });
    const texts = [embed.title, embed.description, footer.text, author.name, ...fields.flatMap((f) => [f.name, f.value])];
    total += texts.reduce<number>((sum, t) => sum + (typeof t === 'string' ? [...t].length : 0), 0);
  });
  if (total > 6000) {
    issues.push({ path, code: 'MAX_EMBED_SIZE_EXCEEDED', message: 'Embed size exceeds maximum size of 6000' });
  }
  return issues;
}

export function componentLimits(components: unknown, v2: boolean, path: Path): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const customIds = new Set<string>();
  let count = 0;
  const visit = (component: JsonObject, at: Path) => {
    count += 1;
    issues.push(...interactiveLimits(component, at, customIds));
    if (component.type === 1) issues.push(...rowLimits(component, at));
    objects(component.components).forEach((child, i) => visit(child, [...at, 'components', i]));
    for (const key of ['component', 'accessory']) {
      const child = component[key];
      if (child && typeof child === 'object') visit(child as JsonObject, [...at, key]);
    }
  };
  objects(components).forEach((component, i) => visit(component, [...path, i]));
  if (v2) {
    if (count > 40) issues.push({ path, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 40 or fewer in length.' });
  } else {
    issues.push(...maxItems(path, components, 5));
    objects(components).forEach((c, i) => {
      if (c.type !== 1) {
        issues.push(issue([...path, i, 'type'], 'COMPONENT_LAYOUT_INVALID', 'Top-level components must be action rows unless IS_COMPONENTS_V2 is set'));
      }
    });
  }
  return issues;
}

function rowLimits(row: JsonObject, at: Path): FieldIssue[] {
  const children = objects(row.components);
  const issues = lengthBetween([...at, 'components'], row.components, 1, 5);
  if (children.some((c) => SELECT_TYPES.has(Number(c.type))) && children.length > 1) {
    issues.push(issue([...at, 'components'], 'COMPONENT_LAYOUT_WIDTH_EXCEEDED', 'A select menu must be alone in its action row'));
  }
  return issues;
}

/** custom_id rules for every interactive component, plus button/select specifics. */
function interactiveLimits(c: JsonObject, at: Path, seen: Set<string>): FieldIssue[] {
  const issues = maxLength([...at, 'custom_id'], c.custom_id, 100);
  if (typeof c.custom_id === 'string') {
    if (c.custom_id.length === 0) {
      issues.push(issue([...at, 'custom_id'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.'));
    }
    if (seen.has(c.custom_id)) {
      issues.push(issue([...at, 'custom_id'], 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated'));
    }
    seen.add(c.custom_id);
  }
  if (c.type === 2) issues.push(...buttonLimits(c, at));
  if (SELECT_TYPES.has(Number(c.type))) issues.push(...selectLimits(c, at));
  return issues;
}

function buttonLimits(button: JsonObject, at: Path): FieldIssue[] {
  const issues = maxLength([...at, 'label'], button.label, 80);
  const isLink = button.style === 5;
  const isPremium = button.style === 6;
  if (isLink && (!button.url || button.custom_id)) {
    issues.push(issue([...at, 'url'], 'BUTTON_COMPONENT_INVALID_URL', 'Link buttons need a url and no custom_id'));
  }
  if (!isLink && !isPremium && typeof button.custom_id !== 'string') {
    issues.push(issue([...at, 'custom_id'], 'BASE_TYPE_REQUIRED', 'This field is required'));
  }
  return issues;
}

function selectLimits(select: JsonObject, at: Path): FieldIssue[] {
  const issues = maxLength([...at, 'placeholder'], select.placeholder, 150);
  if (select.type === 3) issues.push(...lengthBetween([...at, 'options'], select.options, 1, 25));
  objects(select.options).forEach((option, i) => {
    issues.push(...lengthBetween([...at, 'options', i, 'label'], option.label, 1, 100));
    issues.push(...lengthBetween([...at, 'options', i, 'value'], option.value, 1, 100));
    issues.push(...maxLength([...at, 'options', i, 'description'], option.description, 100));
  });
  return issues;
}

export function modalLimits(data: JsonObject, base: Path = ['data']): FieldIssue[] {
  const issues = [
    ...lengthBetween([...base, 'title'], data.title, 1, 45),
    ...lengthBetween([...base, 'custom_id'], data.custom_id, 1, 100),
    ...lengthBetween([...base, 'components'], data.components, 1, 5),
  ];
  const seen = new Set<string>();
  const visit = (c: JsonObject, at: Path) => {
    issues.push(...interactiveLimits(c, at, seen));
    if (c.type === 4) issues.push(...textInputLimits(c, at));
    if (c.type === 18) {
      issues.push(...lengthBetween([...at, 'label'], c.label, 1, 45), ...maxLength([...at, 'description'], c.description, 100));
    }
    if (c.type === 19) issues.push(...fileUploadLimits(c, at));
    objects(c.components).forEach((child, i) => visit(child, [...at, 'components', i]));
    if (c.component && typeof c.component === 'object') visit(c.component as JsonObject, [...at, 'component']);
  };
  objects(data.components).forEach((c, i) => visit(c, [...base, 'components', i]));
  return issues;
}

function textInputLimits(input: JsonObject, at: Path): FieldIssue[] {
  const range = (key: string, min: number, max: number): FieldIssue[] =>
    typeof input[key] === 'number' && ((input[key] as number) < min || (input[key] as number) > max)
      ? [issue([...at, key], 'NUMBER_TYPE_MAX', `Must be between ${min} and ${max}.`)]
      : [];
  return [
    ...maxLength([...at, 'label'], input.label, 45),
    ...maxLength([...at, 'placeholder'], input.placeholder, 100),
    ...maxLength([...at, 'value'], input.value, 4000),
    ...range('min_length', 0, 4000),
    ...range('max_length', 1, 4000),
  ];
}

function fileUploadLimits(upload: JsonObject, at: Path): FieldIssue[] {
  const out: FieldIssue[] = [];
  if (typeof upload.min_values === 'number' && (upload.min_values < 0 || upload.min_values > 10)) {
    out.push(issue([...at, 'min_values'], 'NUMBER_TYPE_MAX', 'Must be between 0 and 10.'));
  }
  if (typeof upload.max_values === 'number' && (upload.max_values < 1 || upload.max_values > 10)) {
    out.push(issue([...at, 'max_values'], 'NUMBER_TYPE_MAX', 'Must be between 1 and 10.'));
  }
  return out;
}

export function autocompleteLimits(data: JsonObject, base: Path = ['data']): FieldIssue[] {
  const issues = maxItems([...base, 'choices'], data.choices, 25);
  objects(data.choices).forEach((choice, i) => {
    issues.push(...lengthBetween([...base, 'choices', i, 'name'], choice.name, 1, 100));
    issues.push(...maxLength([...base, 'choices', i, 'value'], choice.value, 100));
  });
  return issues;
}

export function threadNameLimits(name: unknown, path: Path = ['name']): FieldIssue[] {
  if (typeof name !== 'string') return [{ path, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }];
  return lengthBetween(path, name, 1, 100);
}
