// Browser side of UploadControl: the file goes from the browser straight to the server over
// HTTP as a sliced upload (POST v1/uploads, PUT .../slices?offset= with XMLHttpRequest for
// upload progress, POST .../complete), never through the widget comm channel.

// 0: the whole file is one slice, which Chromium sends straight from disk (a Blob.slice body
// costs it more CPU a byte); PARALLEL slices at a time when a file is cut.
const SLICE_BYTES = 0;
const PARALLEL = 2;
// Waits (ms) before the attempts after a network failure of a slice.
const RETRY_DELAYS = [1000, 2000, 4000, 8000, 16000];

function pageConfig() {
  const el = document.getElementById("jupyter-config-data");
  if (!el) return {};
  try {
    return JSON.parse(el.textContent || "{}");
  } catch (e) {
    return {};
  }
}

function cookie(name) {
  const match = document.cookie.match("\\b" + name + "=([^;]*)\\b");
  return match ? decodeURIComponent(match[1]) : undefined;
}

function apiUrl(model) {
  // Same origin as the Jupyter page: its baseUrl from PageConfig; else what the kernel found.
  const cfg = pageConfig();
  if (cfg.baseUrl) {
    const base = cfg.baseUrl.endsWith("/") ? cfg.baseUrl : cfg.baseUrl + "/";
    const root = new URL(base + "modelfiles/v1/", window.location.origin).href;
    return { url: root + "files", root, token: cfg.token };
  }
  return { url: model.get("api_url") + "v1/files", root: model.get("api_url") + "v1/", token: undefined };
}

function authHeaders(token) {
  const headers = {};
  const xsrf = cookie("_xsrf");
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  if (token) headers["Authorization"] = "token " + token;
  return headers;
}

async function jsonCall(method, url, token, body) {
  const headers = authHeaders(token);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method, credentials: "same-origin", headers,
    body: body === undefined ? (method === "POST" ? "" : undefined) : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
  if (!response.ok) {
    const msg = (parsed && parsed.error && parsed.error.message) || response.statusText || "request failed";
    const err = new Error(msg + " (HTTP " + response.status + ")");
    err.status = response.status;
    throw err;
  }
  return parsed;
}

// A sliced upload of `file`: resolves to the file object; `handle.abort()` cancels it.
function slicedUpload(root, token, file, purpose, onProgress) {
  const inflight = new Set();
  const loaded = new Map();
  const handle = { cancelled: false, abort: null };
  let uploadId = null;
  const report = () => { let sum = 0; loaded.forEach((v) => { sum += v; }); onProgress(sum, file.size); };
  // One request for bytes [from, end) of the slice that starts at `start`.
  const sendPart = (id, start, from, end) => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    inflight.add(xhr);
    xhr.open("PUT", root + "uploads/" + encodeURIComponent(id) + "/slices?offset=" + from);
    xhr.withCredentials = true;
    for (const [k, v] of Object.entries(authHeaders(token))) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { loaded.set(start, from - start + e.loaded); report(); };
    xhr.onload = () => {
      inflight.delete(xhr);
      if (xhr.status >= 200 && xhr.status < 300) { loaded.set(start, end - start); report(); resolve(); return; }
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      const msg = (body && body.error && body.error.message) || xhr.statusText || "upload failed";
      const err = new Error(msg + " (HTTP " + xhr.status + ")");
      err.status = xhr.status;
      reject(err);
    };
    xhr.onerror = () => { inflight.delete(xhr); const e = new Error("network error"); e.status = 0; reject(e); };
    xhr.onabort = () => { inflight.delete(xhr); const e = new Error("cancelled"); e.cancelled = true; reject(e); };
    // The whole File goes as it is: the browser then reads it from disk itself.
    xhr.send(from === 0 && end === file.size ? file : file.slice(from, end));
  });
  // A slice, resumed where the server's bytes end after a network failure (the server keeps
  // what arrived), after 1, 2, 4, 8 and 16 s; a 409 then means the broken request is still
  // open there: wait again.
  const sendSlice = async (id, start, end) => {
    let from = start;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0) {
          const state = await jsonCall("GET", root + "uploads/" + encodeURIComponent(id), token);
          from = start;
          for (const [a, b] of state.received) if (a <= start && start < b) from = Math.min(b, end);
          if (from >= end) { loaded.set(start, end - start); report(); return; }
        }
        await sendPart(id, start, from, end);
        return;
      } catch (err) {
        const status = err.status === undefined ? 0 : err.status;  // fetch's own failure: 0
        const retryable = !err.cancelled && (status === 0 || (attempt > 0 && status === 409));
        if (handle.cancelled || !retryable || attempt >= RETRY_DELAYS.length) throw err;
      }
      await new Promise((wake) => setTimeout(wake, RETRY_DELAYS[attempt]));
      if (handle.cancelled) { const e = new Error("cancelled"); e.cancelled = true; throw e; }
    }
  };
  const run = async () => {
    const created = await jsonCall("POST", root + "uploads", token, {
      filename: file.name, bytes: file.size, purpose, mime_type: file.type || undefined,
    });
    uploadId = created.id;
    const spans = [];
    const step = SLICE_BYTES > 0 && SLICE_BYTES < file.size ? SLICE_BYTES : file.size;
    for (let start = 0; start < file.size; start += step) spans.push([start, Math.min(file.size, start + step)]);
    let next = 0;
    const lane = async () => {
      while (next < spans.length && !handle.cancelled) { const [a, b] = spans[next++]; await sendSlice(created.id, a, b); }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(PARALLEL, spans.length)) }, lane));
    if (handle.cancelled) { const e = new Error("cancelled"); e.cancelled = true; throw e; }
    return await jsonCall("POST", root + "uploads/" + encodeURIComponent(created.id) + "/complete", token);
  };
  handle.abort = () => { handle.cancelled = true; inflight.forEach((x) => x.abort()); };
  handle.promise = run().catch(async (err) => {
    if (handle.cancelled) err.cancelled = true;
    handle.cancelled = true;
    inflight.forEach((x) => x.abort());
    if (uploadId) {
      // Best effort: the server also expires an abandoned upload.
      await jsonCall("DELETE", root + "uploads/" + encodeURIComponent(uploadId), token).catch(() => null);
    }
    throw err;
  });
  return handle;
}

function fillPurposes(select, purposes, chosen) {
  select.replaceChildren();
  for (const p of purposes) {
    const opt = document.createElement("option");
    opt.value = p; opt.textContent = p;
    select.appendChild(opt);
  }
  select.value = purposes.includes(chosen) ? chosen : purposes[0];
}

async function loadPurposes(model) {
  // The server's list (GET v1/files/purposes) is the one source; the synced list is a fallback.
  const { url, token } = apiUrl(model);
  try {
    const headers = token ? { Authorization: "token " + token } : {};
    const response = await fetch(url + "/purposes", { credentials: "same-origin", headers });
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body.data) && body.data.length ? body.data : null;
  } catch (e) {
    return null;
  }
}

function human(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function duration(s) {
  if (!isFinite(s) || s < 0) return "?";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
}

function render({ model, el }) {
  el.classList.add("modelfiles-upload");
  const row = document.createElement("div");
  row.style.cssText = "display:flex;gap:8px;align-items:center;flex-wrap:wrap";
  const input = document.createElement("input");
  input.type = "file";
  input.className = "modelfiles-upload-input";
  const purpose = document.createElement("select");
  purpose.className = "modelfiles-upload-purpose";
  fillPurposes(purpose, model.get("purposes"), model.get("purpose"));
  loadPurposes(model).then((served) => {
    if (!served) return;
    fillPurposes(purpose, served, purpose.value);
    model.set("purposes", served);
    model.save_changes();
  });
  purpose.onchange = () => { model.set("purpose", purpose.value); model.save_changes(); };
  const start = document.createElement("button");
  start.textContent = "Upload";
  start.className = "jupyter-button modelfiles-upload-start";
  const cancel = document.createElement("button");
  cancel.textContent = "Cancel";
  cancel.className = "jupyter-button modelfiles-upload-cancel";
  cancel.disabled = true;
  const bar = document.createElement("progress");
  bar.className = "modelfiles-upload-bar";
  bar.max = 100; bar.value = 0;
  bar.style.cssText = "flex:1;min-width:200px;height:14px";
  const label = document.createElement("span");
  label.className = "modelfiles-upload-label";
  row.append(input, purpose, start, cancel, bar, label);
  el.appendChild(row);

  let upload = null;
  let lastSync = 0;

  function setState(status, extra) {
    model.set("status", status);
    for (const [k, v] of Object.entries(extra || {})) model.set(k, v);
    model.save_changes();
    el.dataset.status = status;
    bar.style.accentColor = status === "done" ? "#2e7d32" : status === "error" ? "#d32f2f" : "";
  }

  start.onclick = () => {
    const file = input.files && input.files[0];
    if (!file) { label.textContent = "choose a file first"; return; }
    const { root, token } = apiUrl(model);
    const began = performance.now();
    let lastPaint = 0;
    const onProgress = (done, total) => {
      // At most 5 repaints a second: the page's CPU is the server's on a small machine.
      const painted = performance.now();
      if (painted - lastPaint < 200 && done < total) return;
      lastPaint = painted;
      bar.value = total ? (100 * done) / total : 0;
      const secs = (performance.now() - began) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 ? (total - done) / rate : NaN;
      label.textContent = human(done) + " / " + human(total) +
        (rate ? "  " + human(rate) + "/s  ETA " + duration(eta) : "");
      const now = performance.now();
      if (now - lastSync > 250) {
        lastSync = now;
        model.set("uploaded_bytes", done);
        model.save_changes();
      }
    };
    start.disabled = true; cancel.disabled = false;
    bar.value = 0;
    setState("uploading", { filename: file.name, total_bytes: file.size, uploaded_bytes: 0, error: "" });
    const current = slicedUpload(root, token, file, purpose.value, onProgress);
    upload = current;
    current.promise.then((body) => {
      if (upload !== current) return;
      cancel.disabled = true; start.disabled = false;
      bar.value = 100;
      label.textContent = "uploaded " + body.filename + " (" + human(body.bytes) + ") as " + body.id;
      setState("done", { uploaded_bytes: file.size, result: body, error: "" });
    }, (err) => {
      if (upload !== current) return;
      cancel.disabled = true; start.disabled = false;
      if (err.cancelled) {
        label.textContent = "cancelled";
        setState("cancelled", {});
      } else {
        label.textContent = "failed: " + err.message;
        setState("error", { error: err.message });
      }
    });
  };
  cancel.onclick = () => { if (upload) upload.abort(); };
  return () => { if (upload) upload.abort(); };
}

export default { render };
