// The part of Discord's markdown the bot uses: \-escapes, **bold**, *italic*, __underline__, `code`,
// <@user> mentions and message links. Output is DOM nodes built from text, so nothing in a message
// can become markup.
const MARKS = [
  ['**', 'strong'],
  ['__', 'u'],
  ['*', 'em'],
  ['_', 'em'],
  ['`', 'code'],
];

const MENTION = /^<@!?(\d+)>/;
const MESSAGE_LINK = /^https:\/\/discord\.com\/channels\/\d+\/(\d+)(?:\/\d+)?/;

/** `links.userName(id)` names a mention; `links.openChannel(id)` follows a message link. */
export function markdown(text, links) {
  const fragment = document.createDocumentFragment();
  appendInline(fragment, text, links);
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
    const mention = MENTION.exec(text.slice(i));
    const link = MESSAGE_LINK.exec(text.slice(i));
    if (mention || link) {
      flush();
      const node = document.createElement(mention ? 'span' : 'button');
      if (mention) {
        node.className = 'mention';
        node.textContent = `@${links.userName(mention[1])}`;
      } else {
        node.className = 'jump-link';
        node.type = 'button';
        node.textContent = link[0];
        node.addEventListener('click', () => links.openChannel(link[1]));
      }
      parent.append(node);
      i += (mention ?? link)[0].length;
      continue;
    }
    const mark = MARKS.find(([m]) => text.startsWith(m, i));
    const end = mark ? closing(text, mark[0], i + mark[0].length) : -1;
    if (mark && end > i + mark[0].length) {
      flush();
      const node = document.createElement(mark[1]);
      const inner = text.slice(i + mark[0].length, end);
      if (mark[1] === 'code') node.textContent = inner;
      else appendInline(node, inner, links);
      parent.append(node);
      i = end + mark[0].length;
      continue;
    }
    plain += text[i];
    i += 1;
  }
  flush();
}

/** Where `mark` closes, skipping escaped characters; -1 when it does not. */
function closing(text, mark, from) {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i += 1;
    else if (text.startsWith(mark, i)) return i;
  }
  return -1;
}
