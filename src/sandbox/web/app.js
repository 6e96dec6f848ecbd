import { api, uploadFile } from './api.js';
import { commandButtons } from './command-form.js';
import { dropTarget, el } from './dom.js';
import { openModal } from './modal.js';
import { renderMessage } from './render.js';
import { keepRelativeTimesLive } from './timestamps.js';

// The page: channels and threads, the member you are, messages kept live over the WebSocket, the message box.
const $ = (id) => document.getElementById(id);

const state = { world: null, viewer: '', channelId: '', threads: new Map(), messages: new Map(), composerFiles: [], socket: null };

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
    if (answer.modal) openModal(page, answer.modal, answer.modalId);
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
  openChannel: (id, messageId) => selectChannel(id, messageId),
  message: (id) => state.messages.get(id),
  userName: (id) => state.world.members.find((m) => m.id === id)?.username ?? (id === state.world.botUserId ? 'xcot-bot' : undefined),
  roleName: (id) => state.world.roles.find((r) => r.id === id)?.name,
  channelName: (id) => state.world.channels.find((c) => c.id === id)?.name ?? state.threads.get(id)?.name,
  pressButton: (message, c) => act('/api/button', { messageId: message.id, customId: c.custom_id }),
  chooseOptions: (message, c, values) => act('/api/select', { messageId: message.id, customId: c.custom_id, values }),
  react: (message, emoji) => act('/api/react', { messageId: message.id, emoji }),
};

const page = { state, act, showError };

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

async function selectChannel(id, messageId) {
  state.channelId = id;
  $('channel-title').textContent = channelName(id);
  const view = await api(`/api/channel?id=${id}&viewer=${state.viewer}`);
  for (const t of view.threads) state.threads.set(t.id, t);
  for (const m of view.messages) state.messages.set(m.id, m);
  renderChannels();
  $('messages').replaceChildren(...view.messages.map((m) => renderMessage(m, ctx)));
  $('guide').hidden = view.messages.length > 0;
  const target = messageId && $('messages').querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
  if (target) {
    target.classList.add('highlight');
    target.scrollIntoView({ block: 'center' });
  } else $('messages').lastElementChild?.scrollIntoView();
  $('command-panel').hidden = true;
}

function onPush(event) {
  if (event.type === 'thread') {
    state.threads.set(event.thread.id, event.thread);
    renderChannels();
  } else if (event.type === 'message' && event.channelId === state.channelId) {
    state.messages.set(event.message.id, event.message);
    const node = renderMessage(event.message, ctx);
    const old = $('messages').querySelector(`[data-message-id="${CSS.escape(event.message.id)}"]`);
    if (old) old.replaceWith(node);
    else {
      $('messages').append(node);
      $('guide').hidden = true;
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
    commandButtons(page).catch((err) => showError(err.message));
    selectChannel(state.channelId);
  });
  for (const t of state.world.threads) state.threads.set(t.id, t);
  for (const v of state.world.violations) addViolation(v);
  keepRelativeTimesLive($('messages'));
  $('lightbox-close').addEventListener('click', () => $('lightbox').close());
  await commandButtons(page);
  composer();
  connect();
  await selectChannel(state.world.channels[0].id);
  document.body.setAttribute('data-ready', 'true');
}

start().catch((err) => showError(`The sandbox page could not start: ${err.message}`));
