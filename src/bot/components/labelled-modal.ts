import { FileUploadBuilder, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle } from 'discord.js';

/** A labelled text input of a modal; `value` is what it opens with. */
export interface ModalTextField {
  kind: 'text';
  id: string;
  label: string;
  style: 'short' | 'paragraph';
  maxLength: number;
  required: boolean;
  value?: string;
}

/** A labelled, optional file upload of a modal taking up to `maxFiles` files. */
export interface ModalFileField {
  kind: 'files';
  id: string;
  label: string;
  maxFiles: number;
}

export type ModalField = ModalTextField | ModalFileField;

/** A modal with a custom id, a title and one labelled component per field, in order. */
export function labelledModal(customId: string, title: string, fields: readonly ModalField[]): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(customId)
    .setTitle(title)
    .addLabelComponents(fields.map(labelFor));
}

function labelFor(field: ModalField): LabelBuilder {
  const label = new LabelBuilder().setLabel(field.label);
  if (field.kind === 'files') {
    return label.setFileUploadComponent(new FileUploadBuilder().setCustomId(field.id).setMinValues(0).setMaxValues(field.maxFiles).setRequired(false));
  }
  const input = new TextInputBuilder()
    .setCustomId(field.id)
    .setStyle(field.style === 'short' ? TextInputStyle.Short : TextInputStyle.Paragraph)
    .setMaxLength(field.maxLength)
    .setRequired(field.required);
  if (field.value !== undefined) input.setValue(field.value);
  return label.setTextInputComponent(input);
}
