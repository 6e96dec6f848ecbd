// DOM helpers shared by the page's modules. Text always goes in as text, never as HTML.

/** A new element with text (never parsed as HTML) and attributes. */
export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Files dropped on `node` (from the desktop or a file manager) go to `onFiles`. */
export function dropTarget(node, onFiles) {
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
