import { el, renderMessage } from './render.js';

const OPTION = { SUBCOMMAND: 1, STRING: 3, INTEGER: 4, BOOLEAN: 5, CHANNEL: 7, NUMBER: 10, ATTACHMENT: 11 };
const $ = (id) => document.getElementById(id);

const state = { world: null, viewer: '', channelId: '', threads: new Map(), composerFiles: [], socket: null };

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-sandbox': '1' }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

async function uploadFile(file) {
  const res = await fetch(`/api/upload?filename=${encodeURIComponent(file.name)}`, { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream', 'x-sandbox': '1' }, body: file });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error);
  return data;
}

/** Shows an error the way Discord's client would (a line in red under the messages). */
function showError(text) {
  const li = el('li', { class: 'message error', role: 'alert' }, text);
  $('messages').append(li);
  li.scrollIntoView();
}

// ---- what a click does: the server answers with a modal, a failure, or fine -------------------------

async function act(path, body) {
  try {
    const answer = await api(path, { ...body, userId: state.viewer });
    if (answer.failed) showError(answer.failed);
    if (answer.modal) openModal(answer.modal, answer.modalId);
    return answer;
  } catch (err) {
    showError(err.message);
    return null;
  }
}

const ctx = {
  get botUserId() { return state.world.botUserId; },
  get fixtureModel() { return state.world.fixtureModel; },
  enlarge(url, name) {
    $('lightbox-img').src = url;
    $('lightbox-img').alt = name;
    $('lightbox').showModal();
  },
  openChannel: (id) => selectChannel(id),
  userName: (id) => state.world.members.find((m) => m.id === id)?.username ?? (id === state.world.botUserId ? 'xcot-bot' : 'unknown'),
  pressButton: (message, c) => act('/api/button', { messageId: message.id, customId: c.custom_id }),
  chooseOptions: (message, c, values) => act('/api/select', { messageId: message.id, customId: c.custom_id, values }),
};

// ---- channels, threads, members ---------------------------------------------------------------------

function renderChannels() {
  const list = $('channels');
  list.replaceChildren();
  for (const channel of state.world.channels) {
    const item = el('li');
    item.append(channelButton(channel.id, `# ${channel.name}`));
    const threads = [...state.threads.values()].filter((t) => t.parent_id === channel.id);
    if (threads.length > 0) {
      const sub = el('ul', { 'aria-label': `Threads in ${channel.name}` });
      for (const t of threads) sub.appendChild(el('li')).append(channelButton(t.id, `↳ ${t.name}`));
      item.append(sub);
    }
    list.append(item);
  }
}

function channelButton(id, label) {
  const button = el('button', { type: 'button', 'data-channel-id': id }, label);
  if (id === state.channelId) button.classList.add('active');
  button.addEventListener('click', () => selectChannel(id));
  return button;
}

function channelName(id) {
  const channel = state.world.channels.find((c) => c.id === id);
  if (channel) return `# ${channel.name}`;
  const thread = state.threads.get(id);
  return thread ? `Thread: ${thread.name}` : id;
}

async function selectChannel(id) {
  state.channelId = id;
  $('channel-title').textContent = channelName(id);
  const view = await api(`/api/channel?id=${id}&viewer=${state.viewer}`);
  for (const t of view.threads) state.threads.set(t.id, t);
  renderChannels();
  $('messages').replaceChildren(...view.messages.map((m) => renderMessage(m, ctx)));
  $('messages').lastElementChild?.scrollIntoView();
  $('command-panel').hidden = true;
}

function onPush(event) {
  if (event.type === 'thread') {
    state.threads.set(event.thread.id, event.thread);
    renderChannels();
  } else if (event.type === 'message' && event.channelId === state.channelId) {
    const node = renderMessage(event.message, ctx);
    const old = $('messages').querySelector(`[data-message-id="${CSS.escape(event.message.id)}"]`);
    if (old) old.replaceWith(node);
    else {
      $('messages').append(node);
      node.scrollIntoView();
    }
  } else if (event.type === 'delete' && event.channelId === state.channelId) {
    $('messages').querySelector(`[data-message-id="${CSS.escape(event.messageId)}"]`)?.remove();
  } else if (event.type === 'violation') {
    addViolation(event.text);
  }
}

function addViolation(text) {
  $('violations').hidden = false;
  $('violation-list').append(el('li', {}, text));
}

function connect() {
  const socket = new WebSocket(`ws://${location.host}/ws?viewer=${state.viewer}`);
  socket.addEventListener('message', (e) => onPush(JSON.parse(e.data)));
  socket.addEventListener('open', () => document.body.setAttribute('data-live', 'true'));
  socket.addEventListener('close', () => {
    document.body.removeAttribute('data-live');
    setTimeout(connect, 1000);
  });
  state.socket = socket;
}

// ---- slash command forms, built from the commands the bot registered --------------------------------

function commandButtons() {
  const box = $('command-buttons');
  for (const command of state.world.commands.filter((c) => c.type === 1)) {
    const button = el('button', { type: 'button', title: command.description }, `/${command.name}`);
    button.addEventListener('click', () => openCommand(command));
    box.append(button);
  }
}

function openCommand(command, subName) {
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
    pick.addEventListener('change', () => openCommand(command, pick.value));
    form.append(el('label', {}, 'subcommand'), pick);
  }
  const options = sub ? sub.options ?? [] : command.options ?? [];
  const fields = options.map((option) => optionField(command, sub, option, () => fields));
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
    const answer = await act('/api/command', { channelId: state.channelId, name: command.name, subcommand: sub?.name, options: values });
    send.disabled = false;
    if (answer) $('command-panel').hidden = true;
  };
  $('command-panel').hidden = false;
  form.querySelector('input, select, textarea')?.focus();
}

/** One option's label and input, and how to read its value as the interaction needs it. */
function optionField(command, sub, option, allFields) {
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
    const choices = option.choices ?? state.world.channels.map((c) => ({ name: `#${c.name}`, value: c.id }));
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
          const { choices } = await api('/api/autocomplete', { userId: state.viewer, channelId: state.channelId, name: command.name, subcommand: sub?.name, options, focused: option.name });
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

function dropTarget(node, onFiles) {
  node.addEventListener('dragover', (e) => {
    e.preventDefault();
    node.classList.add('over');
  });
  node.addEventListener('dragleave', () => node.classList.remove('over'));
  node.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    node.classList.remove('over');
    if (e.dataTransfer.files.length > 0) onFiles([...e.dataTransfer.files]);
  });
}

// ---- modals ---------------------------------------------------------------------------------------------

function openModal(modal, modalId) {
  const dialog = $('modal');
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
      const answer = await api('/api/modal', { modalId, userId: state.viewer, values });
      dialog.close();
      if (answer.failed) showError(answer.failed);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
}

// ---- the message box: text and photos, as a member posts in a channel or thread -------------------------

function composer() {
  const chips = $('composer-files');
  const add = async (files) => {
    for (const file of files) {
      try {
        const uploaded = await uploadFile(file);
        state.composerFiles.push(uploaded);
        chips.append(el('span', { class: 'chip' }, uploaded.filename));
      } catch (err) {
        showError(err.message);
      }
    }
  };
  $('composer-picker').addEventListener('change', (e) => add([...e.target.files]));
  dropTarget($('composer'), add);
  $('composer').addEventListener('submit', async (e) => {
    e.preventDefault();
    const content = $('composer-text').value;
    if (!content && state.composerFiles.length === 0) return;
    try {
      await api('/api/message', { channelId: state.channelId, userId: state.viewer, content, attachmentIds: state.composerFiles.map((f) => f.id) });
      $('composer-text').value = '';
      state.composerFiles = [];
      chips.replaceChildren();
      $('composer-picker').value = '';
    } catch (err) {
      showError(err.message);
    }
  });
}

async function start() {
  state.world = await api('/api/world');
  $('guild-name').textContent = state.world.guild.name;
  $('model-note').textContent = state.world.fixtureModel
    ? 'Model: random-weight test bundle (images are noise).'
    : `Model: ${state.world.modelDir}`;
  for (const m of state.world.members) $('viewer').append(el('option', { value: m.id }, m.username));
  state.viewer = state.world.members[0].id;
  $('viewer').addEventListener('change', () => {
    state.viewer = $('viewer').value;
    state.socket?.send(JSON.stringify({ viewer: state.viewer }));
    selectChannel(state.channelId);
  });
  for (const v of state.world.violations) addViolation(v);
  $('lightbox-close').addEventListener('click', () => $('lightbox').close());
  commandButtons();
  composer();
  connect();
  await selectChannel(state.world.channels[0].id);
  document.body.setAttribute('data-ready', 'true');
}

start().catch((err) => showError(`The sandbox page could not start: ${err.message}`));
