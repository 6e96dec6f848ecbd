import { api, uploadFile } from './api.js';
import { dropTarget, el } from './dom.js';

const OPTION = { SUBCOMMAND: 1, STRING: 3, INTEGER: 4, BOOLEAN: 5, CHANNEL: 7, NUMBER: 10, ATTACHMENT: 11 };
const $ = (id) => document.getElementById(id);

// Slash command forms, built from the commands the bot registered. `page` gives the world, the
// member, the channel, and `act` (sends an interaction and shows its answer).

export function commandButtons(page) {
  const box = $('command-buttons');
  for (const command of page.state.world.commands.filter((c) => c.type === 1)) {
    const button = el('button', { type: 'button', title: command.description }, `/${command.name}`);
    button.addEventListener('click', () => openCommand(page, command));
    box.append(button);
  }
}

function openCommand(page, command, subName) {
  const form = $('command-form');
  form.replaceChildren();
  form.setAttribute('aria-label', `/${command.name}`);
  const subs = (command.options ?? []).filter((o) => o.type === OPTION.SUBCOMMAND);
  let sub = subs.find((s) => s.name === subName) ?? subs[0];
  form.append(el('strong', {}, `/${command.name}`), el('span', { class: 'meta' }, command.description));
  if (subs.length > 0) {
    const pick = el('select', { 'aria-label': 'Subcommand' });
    for (const s of subs) pick.append(el('option', { value: s.name }, `${s.name}: ${s.description}`));
    pick.value = sub.name;
    pick.addEventListener('change', () => openCommand(page, command, pick.value));
    form.append(el('label', {}, 'subcommand'), pick);
  }
  const options = sub ? sub.options ?? [] : command.options ?? [];
  const fields = options.map((option) => optionField(page, command, sub, option, () => fields));
  for (const f of fields) form.append(f.label, f.input);
  const send = el('button', { type: 'submit' }, 'Send');
  const cancel = el('button', { type: 'button' }, 'Close');
  cancel.addEventListener('click', () => ($('command-panel').hidden = true));
  const actions = el('div', { class: 'actions' });
  actions.append(send, cancel);
  form.append(actions);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const values = {};
    for (const f of fields) {
      const v = f.value();
      if (v !== undefined) values[f.option.name] = v;
    }
    send.disabled = true;
    const answer = await page.act('/api/command', { channelId: page.state.channelId, name: command.name, subcommand: sub?.name, options: values });
    send.disabled = false;
    if (answer) $('command-panel').hidden = true;
  };
  $('command-panel').hidden = false;
  form.querySelector('input, select, textarea')?.focus();
}

/** One option's label and input, and how to read its value as the interaction needs it. */
function optionField(page, command, sub, option, allFields) {
  const id = `opt-${option.name}`;
  const label = el('label', { for: id, title: option.description }, option.required ? `${option.name} *` : option.name);
  let input;
  let value;
  if (option.type === OPTION.ATTACHMENT) {
    input = el('div', { class: 'drop', 'data-option': option.name });
    const picker = el('input', { type: 'file', id, accept: 'image/*', 'aria-label': option.name });
    const chosen = el('span', { class: 'meta' }, 'or drop a file here');
    let uploaded;
    const take = async (file) => {
      chosen.textContent = `uploading ${file.name}…`;
      try {
        uploaded = await uploadFile(file);
        chosen.textContent = `${uploaded.filename} (${Math.ceil(uploaded.size / 1024)} KiB)`;
      } catch (err) {
        chosen.textContent = err.message;
      }
    };
    picker.addEventListener('change', () => picker.files[0] && take(picker.files[0]));
    dropTarget(input, (files) => take(files[0]));
    input.append(picker, chosen);
    value = () => (uploaded ? { attachment: uploaded.id } : undefined);
  } else if (option.type === OPTION.BOOLEAN) {
    input = el('select', { id });
    for (const [text, v] of [['', ''], ['True', 'true'], ['False', 'false']]) input.append(el('option', { value: v }, text));
    value = () => (input.value === '' ? undefined : input.value === 'true');
  } else if (option.choices || option.type === OPTION.CHANNEL) {
    input = el('select', { id });
    input.append(el('option', { value: '' }, ''));
    const choices = option.choices ?? page.state.world.channels.map((c) => ({ name: `#${c.name}`, value: c.id }));
    for (const c of choices) input.append(el('option', { value: String(c.value) }, c.name));
    value = () => (input.value === '' ? undefined : option.type === OPTION.INTEGER || option.type === OPTION.NUMBER ? Number(input.value) : input.value);
  } else {
    const numeric = option.type === OPTION.INTEGER || option.type === OPTION.NUMBER;
    input = el('div');
    const box = el('input', { id, type: numeric ? 'number' : 'text', placeholder: option.description, autocomplete: 'off' });
    if (numeric && option.type === OPTION.NUMBER) box.step = 'any';
    if (option.min_value !== undefined) box.min = option.min_value;
    if (option.max_value !== undefined) box.max = option.max_value;
    if (option.max_length) box.maxLength = option.max_length;
    input.append(box);
    // An autocomplete choice shows its name and sends its value, as in Discord.
    let picked;
    if (option.autocomplete) {
      const list = el('ul', { class: 'choices', 'aria-label': `${option.name} suggestions` });
      input.append(list);
      let timer;
      const suggest = async () => {
        const options = { [option.name]: box.value };
        for (const f of allFields()) {
          const v = f.option.name === option.name ? undefined : f.value();
          if (v !== undefined && typeof v !== 'object') options[f.option.name] = v;
        }
        try {
          const { choices } = await api('/api/autocomplete', { userId: page.state.viewer, channelId: page.state.channelId, name: command.name, subcommand: sub?.name, options, focused: option.name });
          list.replaceChildren(...choices.map((c) => {
            const item = el('li');
            const b = item.appendChild(el('button', { type: 'button' }, c.name));
            b.addEventListener('click', () => {
              box.value = c.name;
              picked = c;
              list.replaceChildren();
            });
            return item;
          }));
        } catch (err) {
          list.replaceChildren(el('li', { class: 'error' }, err.message));
        }
      };
      box.addEventListener('input', () => {
        picked = undefined;
        clearTimeout(timer);
        timer = setTimeout(suggest, 150);
      });
      box.addEventListener('focus', () => suggest());
    }
    value = () => {
      if (picked && box.value === picked.name) return picked.value;
      if (box.value === '') return undefined;
      return numeric ? Number(box.value) : box.value;
    };
  }
  return { option, label, input, value };
}
