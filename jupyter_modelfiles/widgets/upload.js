// Browser side of UploadControl: the file goes from the browser straight to POST v1/files
// over HTTP (XMLHttpRequest, for upload progress), never through the widget comm channel.

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
    return { url: new URL(base + "modelfiles/v1/files", window.location.origin).href, token: cfg.token };
  }
  return { url: model.get("api_url") + "v1/files", token: undefined };
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

  let xhr = null;
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
    const { url, token } = apiUrl(model);
    const form = new FormData();
    form.append("purpose", purpose.value);
    form.append("file", file, file.name);
    xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    const xsrf = cookie("_xsrf");
    if (xsrf) xhr.setRequestHeader("X-XSRFToken", xsrf);
    if (token) xhr.setRequestHeader("Authorization", "token " + token);
    const began = performance.now();
    let lastPaint = 0;
    xhr.upload.onprogress = (e) => {
      const total = e.lengthComputable ? e.total : file.size;
      // At most 5 repaints a second: the page's CPU is the server's on a small machine.
      const painted = performance.now();
      if (painted - lastPaint < 200 && e.loaded < total) return;
      lastPaint = painted;
      bar.value = total ? (100 * e.loaded) / total : 0;
      const secs = (performance.now() - began) / 1000;
      const rate = secs > 0 ? e.loaded / secs : 0;
      const eta = rate > 0 ? (total - e.loaded) / rate : NaN;
      label.textContent = human(e.loaded) + " / " + human(total) +
        (rate ? "  " + human(rate) + "/s  ETA " + duration(eta) : "");
      const now = performance.now();
      if (now - lastSync > 250) {
        lastSync = now;
        model.set("uploaded_bytes", e.loaded);
        model.save_changes();
      }
    };
    xhr.onload = () => {
      cancel.disabled = true; start.disabled = false;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        bar.value = 100;
        label.textContent = "uploaded " + body.filename + " (" + human(body.bytes) + ") as " + body.id;
        setState("done", { uploaded_bytes: file.size, result: body, error: "" });
      } else {
        const msg = (body && body.error && body.error.message) || xhr.statusText || "upload failed";
        label.textContent = "failed: " + msg;
        setState("error", { error: msg + " (HTTP " + xhr.status + ")" });
      }
    };
    xhr.onerror = () => {
      cancel.disabled = true; start.disabled = false;
      label.textContent = "failed: network error";
      setState("error", { error: "network error" });
    };
    xhr.onabort = () => {
      cancel.disabled = true; start.disabled = false;
      label.textContent = "cancelled";
      setState("cancelled", {});
    };
    start.disabled = true; cancel.disabled = false;
    bar.value = 0;
    setState("uploading", { filename: file.name, total_bytes: file.size, uploaded_bytes: 0, error: "" });
    xhr.send(form);
  };
  cancel.onclick = () => { if (xhr) xhr.abort(); };
  return () => { if (xhr && xhr.readyState !== 4) xhr.abort(); };
}

export default { render };
