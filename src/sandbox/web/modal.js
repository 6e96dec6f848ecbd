import { api, uploadFile } from './api.js';
import { dropTarget, el } from './dom.js';

// Modals the bot opens, as Discord shows them: text inputs, menus and file uploads.

/** `page.state.viewer` submits; `page.showError` shows a failure. */
export function openModal(page, modal, modalId) {
  const dialog = document.getElementById('modal');
  const form = el('form', { method: 'dialog', 'aria-label': modal.title });
  form.append(el('h3', {}, modal.title));
  const readers = [];
  const addInput = (labelText, c) => {
    const id = `modal-${c.custom_id}`;
    form.append(el('label', { for: id }, labelText ?? c.label ?? c.custom_id));
    if (c.type === 4) {
      const input = c.style === 2 ? el('textarea', { id, rows: '3' }) : el('input', { id, type: 'text' });
      if (c.placeholder) input.placeholder = c.placeholder;
      if (c.value) input.value = c.value;
      if (c.max_length) input.maxLength = c.max_length;
      input.required = c.required !== false;
      form.append(input);
      readers.push(async () => [c.custom_id, input.value]);
    } else if (c.type === 19) {
      const input = el('input', { id, type: 'file', accept: 'image/*' });
      input.multiple = (c.max_values ?? 1) > 1;
      const zone = el('div', { class: 'drop' });
      let dropped = [];
      const note = el('span', { class: 'meta' }, ' or drop photos here');
      zone.append(input, note);
      dropTarget(zone, (files) => {
        dropped = files;
        note.textContent = ` ${files.map((f) => f.name).join(', ')}`;
      });
      form.append(zone);
      readers.push(async () => {
        const files = dropped.length > 0 ? dropped : [...input.files];
        const ids = [];
        for (const f of files) ids.push((await uploadFile(f)).id);
        return [c.custom_id, ids];
      });
    } else if (c.type === 3) {
      const select = el('select', { id });
      for (const o of c.options ?? []) select.append(el('option', { value: o.value }, o.label));
      form.append(select);
      readers.push(async () => [c.custom_id, [select.value]]);
    }
  };
  for (const row of modal.components ?? []) {
    if (row.type === 18) addInput(row.label, row.component);
    else if (row.type === 1) for (const c of row.components ?? []) addInput(c.label, c);
    else if (row.type === 10) form.append(el('p', {}, row.content));
  }
  const error = el('p', { class: 'error', role: 'alert' });
  const submit = el('button', { type: 'submit' }, 'Submit');
  const cancel = el('button', { type: 'button' }, 'Cancel');
  cancel.addEventListener('click', () => dialog.close());
  form.append(error, submit, cancel);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const values = Object.fromEntries(await Promise.all(readers.map((r) => r())));
      const answer = await api('/api/modal', { modalId, userId: page.state.viewer, values });
      dialog.close();
      if (answer.failed) page.showError(answer.failed);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
}
