// avatar-face dashboard page: one WebSocket for live data, plain canvas 2D for the face mesh.
// Loads nothing but this server's own URLs (no CDN, no fonts, no analytics).
"use strict";

const LABELS = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt"];
const MODALITIES = ["text", "voice", "face", "fused"];
const STALE_S = 10;           // an estimate older than this is drawn faded
const LIGHT = normalize([-0.35, 0.45, 1.0]);
const AMBIENT = 0.3;

const $ = (id) => document.getElementById(id);
const view = { yaw: 0, pitch: 0, dragging: null, head: [0, 0, 0] };
const face = { mesh: null, verts: null, dirty: true, frames: 0 };
const page = { said: [], updates: 0 };
window.dashboard = { face, page, view };  // for tests and the curious

function normalize(v) { const n = Math.hypot(...v); return v.map((x) => x / n); }

// ---- face mesh -------------------------------------------------------------------------------
async function loadMesh() {
  const response = await fetch("/mesh.json");
  const meta = await response.json();
  if (!response.ok) { $("face-note").textContent = meta.error || "face model unavailable"; return; }
  const data = new Float32Array(await (await fetch("/mesh.bin")).arrayBuffer());
  const n3 = meta.vertices * 3;
  const rest = data.subarray(0, n3);
  let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < meta.vertices; i++) {
    for (let a = 0; a < 3; a++) { lo[a] = Math.min(lo[a], rest[3 * i + a]); hi[a] = Math.max(hi[a], rest[3 * i + a]); }
  }
  face.mesh = {
    meta, rest, basis: data.subarray(n3), n3,
    centre: [0, 1, 2].map((a) => (lo[a] + hi[a]) / 2),
    extent: Math.max(hi[0] - lo[0], hi[1] - lo[1]),
    colors: meta.triangle_colors,
  };
  face.verts = Float32Array.from(rest);
  $("face-note").textContent = meta.source;
  face.dirty = true;
}

function setChannels(channels) {
  const m = face.mesh;
  if (!m || !channels) return;
  const v = face.verts;
  v.set(m.rest);
  for (let k = 0; k < channels.length; k++) {
    const c = channels[k];
    if (Math.abs(c) < 1e-4) continue;
    const off = k * m.n3;
    for (let i = 0; i < m.n3; i++) v[i] += c * m.basis[off + i];
  }
  face.dirty = true;
}

function drawFace() {
  const m = face.mesh;
  const canvas = $("face");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#1a1c22";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!m) return;
  // The character's head pose (HeadGaze) plus the viewer's mouse turn.
  const yaw = view.yaw + view.head[0], pitch = view.pitch + view.head[1], roll = view.head[2];
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const cr = Math.cos(roll), sr = Math.sin(roll);
  const n = m.meta.vertices, v = face.verts;
  const scale = 0.86 * Math.min(canvas.width, canvas.height) / m.extent;
  const px = new Float32Array(n), py = new Float32Array(n), pz = new Float32Array(n);
  const P = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const x = v[3 * i] - m.centre[0], y = v[3 * i + 1] - m.centre[1], z = v[3 * i + 2] - m.centre[2];
    // pitch about x, yaw about y (> 0 turns the nose toward the face's own left, +x), then roll
    // (> 0 tilts the top of the head toward its right shoulder: counter-clockwise on screen)
    const y1 = cp * y + sp * z, z1 = -sp * y + cp * z;
    const x2 = cy * x + sy * z1, z2 = -sy * x + cy * z1;
    const x3 = cr * x2 - sr * y1, y3 = sr * x2 + cr * y1;
    P[3 * i] = x3; P[3 * i + 1] = y3; P[3 * i + 2] = z2;
    px[i] = canvas.width / 2 + scale * x3; py[i] = canvas.height / 2 - scale * y3; pz[i] = z2;
  }
  const tri = m.meta.triangles, count = tri.length / 3;
  const order = [], shade = new Float32Array(count);
  for (let t = 0; t < count; t++) {
    const a = tri[3 * t], b = tri[3 * t + 1], c = tri[3 * t + 2];
    const ux = P[3 * b] - P[3 * a], uy = P[3 * b + 1] - P[3 * a + 1], uz = P[3 * b + 2] - P[3 * a + 2];
    const wx = P[3 * c] - P[3 * a], wy = P[3 * c + 1] - P[3 * a + 1], wz = P[3 * c + 2] - P[3 * a + 2];
    const nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
    const len = Math.hypot(nx, ny, nz) || 1;
    if (nz / len <= 0) continue;  // back face
    shade[t] = AMBIENT + (1 - AMBIENT) * Math.max(0, (nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2]) / len);
    order.push(t);
  }
  order.sort((s, t) => (pz[tri[3 * s]] + pz[tri[3 * s + 1]] + pz[tri[3 * s + 2]]) -
                       (pz[tri[3 * t]] + pz[tri[3 * t + 1]] + pz[tri[3 * t + 2]]));
  for (const t of order) {
    const a = tri[3 * t], b = tri[3 * t + 1], c = tri[3 * t + 2], k = shade[t];
    const col = m.colors;
    ctx.fillStyle = `rgb(${col[3 * t] * k | 0},${col[3 * t + 1] * k | 0},${col[3 * t + 2] * k | 0})`;
    ctx.strokeStyle = ctx.fillStyle;  // hides hairline seams between triangles
    ctx.beginPath();
    ctx.moveTo(px[a], py[a]); ctx.lineTo(px[b], py[b]); ctx.lineTo(px[c], py[c]); ctx.closePath();
    ctx.fill(); ctx.stroke();
  }
  for (const [eye, iris] of [[m.meta.right_eye, m.meta.right_iris], [m.meta.left_eye, m.meta.left_iris]]) {
    const r = iris.slice(1).reduce((s, i) => s + Math.hypot(px[i] - px[iris[0]], py[i] - py[iris[0]]), 0) / 4;
    ctx.save();
    ctx.beginPath();
    eye.forEach((i, j) => (j ? ctx.lineTo(px[i], py[i]) : ctx.moveTo(px[i], py[i])));
    ctx.closePath();
    ctx.clip();  // lids hide the iris: nothing shows when the eye is closed
    ctx.fillStyle = "rgb(58,74,92)";
    ctx.beginPath(); ctx.arc(px[iris[0]], py[iris[0]], r, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = "rgb(14,14,18)";
    ctx.beginPath(); ctx.arc(px[iris[0]], py[iris[0]], 0.45 * r, 0, 2 * Math.PI); ctx.fill();
    ctx.restore();
  }
  face.frames++;
}

function animate() {
  if (face.dirty) { face.dirty = false; drawFace(); }
  requestAnimationFrame(animate);
}

function setupMouse() {
  const canvas = $("face");
  canvas.addEventListener("pointerdown", (e) => { view.dragging = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { view.dragging = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!view.dragging) return;
    view.yaw = Math.max(-1.2, Math.min(1.2, view.yaw + (e.clientX - view.dragging[0]) * 0.01));
    view.pitch = Math.max(-0.8, Math.min(0.8, view.pitch - (e.clientY - view.dragging[1]) * 0.01));
    view.dragging = [e.clientX, e.clientY];
    face.dirty = true;
  });
  canvas.addEventListener("dblclick", () => { view.yaw = 0; view.pitch = 0; face.dirty = true; });
}

// ---- panels ----------------------------------------------------------------------------------
function bars(container, entries) {
  // entries: [[label, value]]; one row per label, created once, updated in place
  for (const [label, value] of entries) {
    let row = container.querySelector(`[data-label="${CSS.escape(label)}"]`);
    if (!row) {  // names come from topics: text nodes only, never markup
      row = document.createElement("div");
      row.className = "bar-row";
      row.dataset.label = label;
      row.style.display = "contents";
      const name = document.createElement("span"), bar = document.createElement("div"), num = document.createElement("span");
      name.textContent = label;
      bar.className = "bar";
      bar.appendChild(document.createElement("i"));
      num.className = "num";
      row.append(name, bar, num);
      container.appendChild(row);
    }
    const v = Math.max(0, Math.min(1, Number(value) || 0));
    row.dataset.value = v.toFixed(3);
    row.querySelector("i").style.width = `${(100 * v).toFixed(1)}%`;
    row.querySelector(".num").textContent = v.toFixed(2);
  }
}

function showAus(section) {
  const names = Object.keys(section.values).sort();
  bars($("aus"), names.map((k) => [k, section.values[k]]));
  if (section.head) { view.head = section.head; face.dirty = true; }
  setChannels(section.channels);
}

function showEmotions(emotions) {
  const box = $("emotions");
  for (const source of MODALITIES) {
    let panel = box.querySelector(`[data-source="${source}"]`);
    if (!panel) {
      panel = document.createElement("div");
      panel.className = "modality";
      panel.dataset.source = source;
      panel.innerHTML = `<h3>${source} <span></span></h3><div class="bars"></div>`;
      box.appendChild(panel);
    }
    const e = emotions[source];
    if (!e) { panel.querySelector("h3 span").textContent = "no estimate yet"; continue; }
    panel.querySelector("h3 span").textContent =
      `valence ${e.valence.toFixed(2)}, arousal ${e.arousal.toFixed(2)}, confidence ${e.confidence.toFixed(2)}`;
    panel.classList.toggle("stale", Date.now() / 1000 - e.t > STALE_S);
    bars(panel.querySelector(".bars"), LABELS.filter((k) => k in e.weights).map((k) => [k, e.weights[k]]));
  }
}

function showTranscript(items) {
  const list = $("transcript");
  list.replaceChildren(...items.map((u) => {
    const li = document.createElement("li");
    li.className = u.final ? "final" : "partial";
    li.dataset.id = u.id;
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = u.text;
    li.appendChild(text);
    const meta = document.createElement("div");
    meta.className = "meta";
    const a = u.analysis;
    meta.textContent = `${u.id}` + (a ? ` \u00b7 ${a.backend} (${a.model}, ${a.latency_ms.toFixed(0)} ms)` +
      (a.rationale ? ` \u00b7 ${a.rationale}` : "") : (u.final ? "" : " \u00b7 listening..."));
    li.appendChild(meta);
    return li;
  }));
  list.scrollTop = list.scrollHeight;
}

function showLatency(rows) {
  const fmt = (x) => (x === null || x === undefined ? "-" : x.toFixed(0));
  $("latency").querySelector("tbody").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    for (const x of [r.id, fmt(r.vad_ms), fmt(r.asr_ms), fmt(r.text_affect_ms), fmt(r.fusion_ms), fmt(r.face_ms), fmt(r.total_ms)]) {
      const td = document.createElement("td");
      td.textContent = x;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function showImage(section) {
  const img = $("camera");
  img.src = `/camera.jpg?v=${section.version}`;
  $("camera-note").textContent = "";
}

function showDetections(d) {
  const img = $("camera"), canvas = $("boxes");
  canvas.width = img.clientWidth || 0; canvas.height = img.clientHeight || 0;
  const ctx = canvas.getContext("2d");
  if (!d.width || !canvas.width) return;
  const s = canvas.width / d.width;
  const faceEmotion = latest.emotions && latest.emotions.face;
  let label = "";
  if (faceEmotion) {
    const best = Object.entries(faceEmotion.weights).sort((a, b) => b[1] - a[1])[0];
    if (best) label = ` ${best[0]} ${best[1].toFixed(2)}`;
  }
  ctx.strokeStyle = "#f2a65a"; ctx.fillStyle = "#f2a65a"; ctx.lineWidth = 2; ctx.font = "12px sans-serif";
  d.faces.forEach((f, i) => {
    ctx.strokeRect(f.x * s, f.y * s, f.width * s, f.height * s);
    ctx.fillText(`${f.id || "face"}${i === 0 ? label : ""}`, f.x * s + 2, Math.max(12, f.y * s - 4));
  });
}

const latest = {};
const SHOW = { aus: showAus, emotions: showEmotions, transcript: showTranscript, latency: showLatency,
               image: showImage, detections: showDetections };

function apply(sections) {
  for (const [name, payload] of Object.entries(sections || {})) {
    if (payload === null || payload === undefined || !(name in SHOW)) continue;
    latest[name] = payload;
    SHOW[name](payload);
  }
  page.updates++;
}

// ---- connection ------------------------------------------------------------------------------
let socket = null;

function connect() {
  socket = new WebSocket(`ws://${location.host}/ws`);
  socket.onopen = () => { $("status").textContent = "live"; $("status").className = "status on"; };
  socket.onclose = () => {
    $("status").textContent = "disconnected, retrying..."; $("status").className = "status off";
    setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "hello" || msg.type === "update") apply(msg.sections);
    else if (msg.type === "said") { page.said.push(msg.id); $("say-status").textContent = `sent as ${msg.id}`; }
    else if (msg.type === "error") $("say-status").textContent = msg.error;
  };
}

function setupSay() {
  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("say-text").value.trim();
    if (!text) return;
    if (!socket || socket.readyState !== WebSocket.OPEN) { $("say-status").textContent = "not connected"; return; }
    socket.send(JSON.stringify({ type: "say", text }));
    $("say-text").value = "";
  });
}

setupMouse();
setupSay();
showEmotions({});
loadMesh().catch((err) => { $("face-note").textContent = `face model: ${err}`; }).finally(() => {
  connect();
  requestAnimationFrame(animate);
});
