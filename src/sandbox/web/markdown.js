// Discord's message markup as its client shows it: ```code blocks```, `code`, ||spoilers||, **bold**,
// *italic*, __underline__, ~~strike~~, \-escapes, timestamps (<t:N> in every style, :R kept live),
// user, role and channel mentions, message and channel links as chips, custom emoji and plain links.
// Output is DOM nodes built from text: nothing in a message can become markup.
import { formatTimestamp, TIMESTAMP_STYLES } from './timestamps.js';

const MARKS = [
  ['**', 'strong'],
  ['__', 'u'],
  ['~~', 's'],
  ['||', 'spoiler'],
  ['*', 'em'],
  ['_', 'em'],
];

const TOKENS = [
  ['user', /^<@!?(\d{15,21})>/],
  ['role', /^<@&(\d{15,21})>/],
  ['channel', /^<#(\d{15,21})>/],
  ['timestamp', /^<t:(-?\d{1,13})(?::([tTdDfFR]))?>/],
  ['emoji', /^<(a?):(\w{2,32}):(\d{15,21})>/],
  ['discordLink', /^<?https:\/\/(?:canary\.|ptb\.)?discord(?:app)?\.com\/channels\/(\d+|@me)\/(\d+)(?:\/(\d+))?>?/],
  ['link', /^<?(https?:\/\/[^\s<>]*[^\s<>.,:;"')\]])>?/],
];

/**
 * `links` names things and follows them: userName(id), roleName(id), channelName(id) (undefined when
 * unknown), openChannel(channelId, messageId?).
 */
export function markdown(text, links) {
  const fragment = document.createDocumentFragment();
  // Code blocks first: nothing inside them is markup.
  const block = /```(?:([\w+-]{1,20})\n)?([\s\S]*?)```/g;
  let at = 0;
  for (let m = block.exec(text); m; m = block.exec(text)) {
    if (m[2].length === 0 && !m[1]) continue;
    appendInline(fragment, text.slice(at, m.index), links);
    const pre = document.createElement('pre');
    pre.className = 'code-block';
    const code = pre.appendChild(document.createElement('code'));
    if (m[1]) code.dataset.language = m[1];
    code.textContent = m[2].replace(/^\n/, '');
    fragment.append(pre);
    at = m.index + m[0].length;
  }
  appendInline(fragment, text.slice(at), links);
  return fragment;
}

function appendInline(parent, text, links) {
  let plain = '';
  const flush = () => {
    if (plain) parent.append(plain);
    plain = '';
  };
  for (let i = 0; i < text.length; ) {
    if (text[i] === '\\' && i + 1 < text.length && /[^\w\s]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    const rest = text.slice(i);
    const token = tokenAt(rest, links);
    if (token) {
      flush();
      parent.append(token.node);
      i += token.length;
      continue;
    }
    if (text[i] === '`') {
      const end = text.indexOf('`', i + 1);
      if (end > i + 1) {
        flush();
        const node = document.createElement('code');
        node.textContent = text.slice(i + 1, end);
        parent.append(node);
        i = end + 1;
        continue;
      }
    }
    const mark = MARKS.find(([m]) => text.startsWith(m, i));
    const end = mark ? closing(text, mark[0], i + mark[0].length) : -1;
    if (mark && end > i + mark[0].length) {
      flush();
      const node = mark[1] === 'spoiler' ? spoiler() : document.createElement(mark[1]);
      appendInline(node, text.slice(i + mark[0].length, end), links);
      parent.append(node);
      i = end + mark[0].length;
      continue;
    }
    plain += text[i];
    i += 1;
  }
  flush();
}

function tokenAt(rest, links) {
  if (rest[0] !== '<' && rest[0] !== 'h') return undefined;
  for (const [kind, pattern] of TOKENS) {
    const m = pattern.exec(rest);
    if (!m) continue;
    const node = build(kind, m, links);
    if (node) return { node, length: m[0].length };
  }
  return undefined;
}

function build(kind, m, links) {
  switch (kind) {
    case 'user':
      return chip('span', 'mention', `@${links.userName(m[1]) ?? 'unknown-user'}`);
    case 'role':
      return chip('span', 'mention', `@${(links.roleName(m[1]) ?? 'deleted-role').replace(/^@/, '')}`);
    case 'channel': {
      const name = links.channelName(m[1]);
      const node = chip('button', 'mention channel-mention', name ? `#${name}` : '#unknown');
      if (name) node.addEventListener('click', () => links.openChannel(m[1]));
      return node;
    }
    case 'timestamp': {
      const seconds = Number(m[1]);
      const style = m[2] ?? 'f';
      if (!TIMESTAMP_STYLES.includes(style) || Math.abs(seconds) > 8.64e12 / 1000) return undefined;
      const node = document.createElement('time');
      node.className = 'timestamp';
      node.dateTime = new Date(seconds * 1000).toISOString();
      node.dataset.seconds = String(seconds);
      node.dataset.style = style;
      node.textContent = formatTimestamp(seconds, style);
      node.title = formatTimestamp(seconds, 'F');
      return node;
    }
    case 'emoji': {
      const node = chip('span', 'custom-emoji', `:${m[2]}:`);
      node.title = `:${m[2]}:`;
      node.dataset.emojiId = m[3];
      if (m[1]) node.dataset.animated = 'true';
      return node;
    }
    case 'discordLink': {
      const [, , channelId, messageId] = m;
      const name = links.channelName(channelId);
      if (!name) return undefined;
      // Discord draws a speech-bubble icon after the channel; a word needs no emoji font.
      const node = chip('button', 'mention message-link', messageId ? `#${name} › message` : `#${name}`);
      node.title = messageId ? `Jump to the message in #${name}` : `#${name}`;
      node.addEventListener('click', () => links.openChannel(channelId, messageId));
      return node;
    }
    case 'link': {
      const a = document.createElement('a');
      a.href = m[1];
      a.textContent = m[1];
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      return a;
    }
    default:
      return undefined;
  }
}

function chip(tag, className, text) {
  const node = document.createElement(tag);
  if (tag === 'button') node.type = 'button';
  node.className = className;
  node.textContent = text;
  return node;
}

function spoiler() {
  const node = document.createElement('span');
  node.className = 'spoiler';
  node.title = 'Spoiler: click to show';
  node.addEventListener('click', () => node.classList.add('revealed'), { once: true });
  return node;
}

/** Where `mark` closes, skipping escaped characters; -1 when it does not. */
function closing(text, mark, from) {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text.startsWith(mark, i)) return i;
  }
  return -1;
}
