// Builds a message's DOM the way Discord shows it. Every bot and member string goes in as text.
import { el } from './dom.js';
import { markdown } from './markdown.js';

const EPHEMERAL = 1 << 6;
const LOADING = 1 << 7;

const isImage = (a) => (a.content_type ?? '').startsWith('image/');

export function renderMessage(message, ctx) {
  const li = el('li', { class: 'message', 'data-message-id': message.id });
  const fromBot = message.author?.id === ctx.botUserId;
  const ephemeral = (message.flags & EPHEMERAL) !== 0;
  if (ephemeral) li.classList.add('ephemeral');
  // Only the deprecated `interaction` field still carries the command's name.
  const used = message.interaction;
  if (used?.name && message.type === 20) li.append(el('div', { class: 'used' }, `${used.user?.username ?? 'someone'} used /${used.name}`));
  const ref = message.message_reference?.message_id;
  if (ref && message.type === 19) {
    // A reply: Discord shows the message it answers above it, shortened.
    const answered = ctx.message(ref);
    const line = el('div', { class: 'reply-ref' }, '↪ ');
    if (answered) line.append(el('span', { class: 'author' }, answered.author?.username ?? 'unknown'), ' ', plainSnippet(answered.content));
    else line.append('Original message was deleted');
    li.append(line);
  }
  const head = el('div', { class: 'meta' });
  head.append(el('span', { class: 'author' }, message.author?.username ?? 'unknown'));
  if (fromBot) head.append(el('span', { class: 'bot-tag' }, 'BOT'));
  head.append(' ', new Date(message.timestamp).toLocaleTimeString());
  if (message.edited_timestamp) head.append(el('span', { class: 'edited' }, ' (edited)'));
  li.append(head);
  if (message.flags & LOADING) li.append(el('div', { class: 'thinking' }, `${message.author?.username ?? 'The bot'} is thinking…`));
  if (message.content) li.appendChild(el('div', { class: 'content' })).append(markdown(message.content, ctx));
  const images = (message.attachments ?? []).filter(isImage);
  if (images.length > 0) {
    const box = el('div', { class: 'images' });
    for (const a of images) {
      const img = el('img', { src: a.url, alt: a.filename, title: 'Click to enlarge' });
      img.addEventListener('click', () => ctx.enlarge(a.url, a.filename));
      box.append(img);
    }
    li.append(box);
  }
  // As in Discord's client: attachments first, then embeds.
  for (const embed of message.embeds ?? []) li.append(renderEmbed(embed, ctx));
  // Only what the model made is noise: drawn images (the bot names them xcot-<job>-<seed>) and the
  // reasoning; a member's own photos (/subject show) are not.
  const drawn = images.some((a) => /^xcot-/.test(a.filename ?? ''));
  const reasoning = (message.embeds ?? []).some((e) => e.title === 'How I see your subject');
  if (fromBot && ctx.fixtureModel && (drawn || reasoning)) {
    li.append(el('div', { class: 'fixture-note' }, 'Random-weight test model: its images and reasoning are noise. Start the sandbox with --model DIR for real pictures.'));
  }
  for (const a of (message.attachments ?? []).filter((x) => !isImage(x))) {
    li.append(el('a', { href: a.url, target: '_blank', rel: 'noopener' }, a.filename));
  }
  for (const row of message.components ?? []) li.append(renderRow(row, message, ctx));
  // Nobody can react to an ephemeral message in Discord.
  if (!ephemeral && (images.length > 0 || (message.reactions ?? []).length > 0)) li.append(renderReactions(message, ctx));
  if (message.thread) {
    const link = el('button', { class: 'thread-link', type: 'button' }, `Thread: ${message.thread.name} ›`);
    link.addEventListener('click', () => ctx.openChannel(message.thread.id));
    li.append(link);
  }
  if (ephemeral) li.append(el('div', { class: 'ephemeral-note' }, 'Only you can see this'));
  return li;
}

function plainSnippet(text) {
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}

function renderEmbed(embed, ctx) {
  const box = el('div', { class: 'embed' });
  if (typeof embed.color === 'number') box.style.borderLeftColor = `#${embed.color.toString(16).padStart(6, '0')}`;
  if (embed.author?.name) box.append(el('div', { class: 'embed-author' }, embed.author.name));
  if (embed.title) box.append(el('div', { class: 'embed-title' }, embed.title));
  if (embed.description) box.appendChild(el('div', { class: 'embed-description' })).append(markdown(embed.description, ctx));
  for (const field of embed.fields ?? []) {
    box.append(el('div', { class: 'field-name' }, field.name));
    box.appendChild(el('div', { class: 'field-value' })).append(markdown(field.value, ctx));
  }
  const image = embed.image?.url ?? embed.thumbnail?.url;
  if (image && /^https?:/.test(image)) {
    const img = el('img', { src: image, alt: 'embed image' });
    img.addEventListener('click', () => ctx.enlarge(image, 'embed image'));
    box.appendChild(el('div', { class: 'images' })).append(img);
  }
  if (embed.footer?.text) box.append(el('div', { class: 'meta' }, embed.footer.text));
  return box;
}

function renderRow(row, message, ctx) {
  const box = el('div', { class: 'row' });
  for (const c of row.components ?? []) {
    if (c.type === 2) {
      if (c.style === 5) {
        box.append(el('a', { href: c.url, target: '_blank', rel: 'noopener' }, c.label ?? c.url));
        continue;
      }
      const button = el('button', { type: 'button', class: `style-${c.style}` }, c.emoji?.name ? `${c.emoji.name} ${c.label ?? ''}` : c.label);
      button.disabled = Boolean(c.disabled);
      button.addEventListener('click', () => ctx.pressButton(message, c, button));
      box.append(button);
    } else if (c.type === 3) {
      const select = el('select', { 'aria-label': c.placeholder ?? 'Choose' });
      select.disabled = Boolean(c.disabled);
      if ((c.max_values ?? 1) > 1) select.multiple = true;
      if (!select.multiple) select.append(el('option', { value: '' }, c.placeholder ?? 'Choose…'));
      for (const o of c.options ?? []) {
        const option = el('option', { value: o.value }, o.label);
        if (o.default) option.selected = true;
        select.append(option);
      }
      select.addEventListener('change', () => {
        const values = [...select.selectedOptions].map((o) => o.value).filter(Boolean);
        if (values.length >= (c.min_values ?? 1)) ctx.chooseOptions(message, c, values, select);
      });
      box.append(select);
    } else {
      box.append(el('span', { class: 'meta' }, `(component type ${c.type} not shown by the sandbox)`));
    }
  }
  return box;
}

/** Reaction chips (click to add or take back yours), with 👍 and 👎 always offered, as on a result. */
function renderReactions(message, ctx) {
  const box = el('div', { class: 'reactions' });
  const shown = new Map((message.reactions ?? []).map((r) => [r.emoji.name, r]));
  for (const name of ['👍', '👎']) if (!shown.has(name)) shown.set(name, { count: 0, me: false, emoji: { name } });
  for (const [name, r] of shown) {
    const chip = el('button', { type: 'button', class: r.me ? 'reaction me' : 'reaction', 'aria-label': `React ${name}`, 'aria-pressed': String(r.me) }, r.count > 0 ? `${name} ${r.count}` : name);
    chip.addEventListener('click', () => ctx.react(message, name));
    box.append(chip);
  }
  return box;
}
