// The sandbox server's API. The x-sandbox header is what lets the server tell its own page from others.

export async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-sandbox': '1' }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ?? `HTTP ${res.status}`);
  return data;
}

/** Uploads a file as the local Discord's client would; resolves with its attachment id. */
export async function uploadFile(file) {
  const res = await fetch(`/api/upload?filename=${encodeURIComponent(file.name)}`, { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream', 'x-sandbox': '1' }, body: file });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error);
  return data;
}

/** Shows an error the way Discord's client would (a line in red under the messages). */
