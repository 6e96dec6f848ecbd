import { api, uploadFile } from './api.js';
import { dropTarget, el } from './dom.js';

const OPTION = { SUBCOMMAND: 1, STRING: 3, INTEGER: 4, BOOLEAN: 5, CHANNEL: 7, NUMBER: 10, ATTACHMENT: 11 };
const $ = (id) => document.getElementById(id);

// Slash command forms, built from the commands the bot registered. `page` gives the world, the
// member, the channel, and `act` (sends an interaction and shows its answer).

/** The member's command picker: only the commands Discord would list for them (default member permissions). */
export async function commandButtons(page) {
  const viewer = page.state.viewer;
  const commands = await api(`/api/commands?viewer=${encodeURIComponent(viewer)}`);
  if (viewer !== page.state.viewer) return;
  const box = $('command-buttons');
  box.replaceChildren();
  $('command-panel').hidden = true;
  for (const command of commands.filter((c) => c.type === 1)) {
    const button = el('button', { type: 'button', title: command.description }, `/${command.name}`);
    button.addEventListener('click', () => openCommand(page, command));
    box.append(button);
  }
}

function openCommand(page, command, subName) {
  const form = $('command-form');
  form.replaceChildren();
  // The checks below say what is wrong the way Discord's client does, instead of the browser's bubbles.
  form.noValidate = true;
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
  for (const f of fields) form.append(f.label, f.input, f.help, f.error);
  const send = el('button', { type: 'submit' }, 'Send');
  const cancel = el('button', { type: 'button' }, 'Close');
  cancel.addEventListener('click', () => ($('command-panel').hidden = true));
  const actions = el('div', { class: 'actions' });
  actions.append(send, cancel);
  form.append(actions);
  form.onsubmit = async (e) => {
    e.preventDefault();
    // Discord's client checks required options, ranges and lengths before anything is sent.
    let ok = true;
    for (const f of fields) {
      const problem = f.check();
      f.error.textContent = problem ?? '';
      f.error.hidden = !problem;
      if (problem) ok = false;
    }
    if (!ok) return;
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
  const help = el('div', { class: 'option-help', id: `${id}-help` }, describeOption(option));
  const error = el('div', { class: 'option-error', role: 'alert', id: `${id}-error` });
  error.hidden = true;
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
    const box = el('input', { id, type: numeric ? 'number' : 'text', autocomplete: 'off', 'aria-describedby': `${id}-help` });
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
  const check = () => {
    const v = value();
    if (v === undefined) return option.required ? 'This option is required.' : undefined;
    if (typeof v === 'object') return undefined;
    return optionProblem(option, v);
  };
  return { option, label, input, help, error, value, check };
}

/** The line under a field: its description and what it accepts. */
function describeOption(option) {
  const parts = [option.description];
  const numeric = option.type === OPTION.INTEGER || option.type === OPTION.NUMBER;
  if (numeric && option.min_value !== undefined && option.max_value !== undefined) parts.push(`${option.type === OPTION.INTEGER ? 'whole number ' : ''}${option.min_value} to ${option.max_value}`);
  else if (numeric && option.min_value !== undefined) parts.push(`at least ${option.min_value}`);
  else if (numeric && option.max_value !== undefined) parts.push(`at most ${option.max_value}`);
  if (option.max_length) parts.push(`up to ${option.max_length} characters`);
  if (option.choices) parts.push(`one of ${option.choices.length}`);
  return parts.join(' · ');
}

/** What Discord's client says about a value it will not send; undefined when it is fine. */
function optionProblem(option, v) {
  if (option.type === OPTION.INTEGER || option.type === OPTION.NUMBER) {
    if (typeof v !== 'number' || Number.isNaN(v)) return 'Enter a number.';
    if (option.type === OPTION.INTEGER && !Number.isInteger(v)) return 'Enter a whole number.';
    if (option.min_value !== undefined && v < option.min_value) return `The value must be ${option.min_value} or more.`;
    if (option.max_value !== undefined && v > option.max_value) return `The value must be ${option.max_value} or less.`;
  }
  if (typeof v === 'string') {
    const length = [...v].length;
    if (option.min_length !== undefined && length < option.min_length) return `Enter at least ${option.min_length} characters.`;
    if (option.max_length !== undefined && length > option.max_length) return `Enter at most ${option.max_length} characters.`;
    if (option.choices && !option.choices.some((c) => String(c.value) === v)) return 'Pick one of the choices.';
  }
  return undefined;
}
