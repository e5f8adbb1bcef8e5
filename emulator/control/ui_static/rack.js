// The rack view: draws /ui/rack as SVG and redraws it whenever the control plane's event
// stream (Server-Sent Events) says something happened. No polling loop, no framework.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 470;            // width of a device in the rack
const GUTTER = 250;       // room on the right for the cables
const SWITCH_H = 34;
const NODE_H = 80;
const TIMELINE_MAX = 300;

const state = { rack: null, lastSeq: 0, inFlight: false, dirty: false, selected: null, lab: null,
  // seq -> performance.now() when the event arrived; the delay to the redraw that shows it
  // is kept in document.body.dataset (drawnSeq, lastDelayMs) for tests and the curious.
  arrived: new Map() };

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, s, attrs) {
  const t = el("text", Object.assign({ x, y }, attrs || {}), parent);
  t.textContent = s;
  return t;
}

function led(parent, x, y, id, attrs, info) {
  const r = el("rect", Object.assign({ x, y, width: 8, height: 8, rx: 2, class: "led", id }, attrs), parent);
  const title = el("title", {}, r);
  title.textContent = id;
  r.addEventListener("click", (ev) => { ev.stopPropagation(); select(id, info); });
  return r;
}

function safe(s) { return String(s).replace(/[^A-Za-z0-9_.-]/g, "_"); }

function select(id, info) {
  state.selected = id;
  document.getElementById("details").textContent = id + "\n" + JSON.stringify(info, null, 2);
  for (const c of document.querySelectorAll(".selected")) c.classList.remove("selected");
  const node = document.getElementById(id);
  if (node) node.classList.add("selected");
}

// -- drawing -------------------------------------------------------------------------------
function drawSwitch(svg, sw, y, portPos) {
  const g = el("g", { id: "switch-" + safe(sw.name), "data-up": sw.up }, svg);
  const box = el("rect", { x: 0, y, width: W, height: SWITCH_H, rx: 3, class: "chassis", id: "chassis-" + safe(sw.name) }, g);
  box.addEventListener("click", () => select("chassis-" + safe(sw.name), sw));
  text(g, 8, y + 14, sw.name);
  led(g, 8, y + 20, "power-" + safe(sw.name), { "data-state": sw.up ? "up" : "off" }, sw);
  sw.psus.forEach((p, i) => led(g, 24 + i * 11, y + 20, `psu-${safe(sw.name)}-${safe(p.name)}`,
    { "data-health": p.ok ? "ok" : "critical" }, p));
  sw.fans.forEach((f, i) => led(g, 52 + i * 11, y + 20, `fan-${safe(sw.name)}-${safe(f.name)}`,
    { "data-health": f.ok ? "ok" : "critical" }, f));
  sw.ports.forEach((p, i) => {
    const x = 120 + (i % 28) * 12;
    const py = y + (i < 28 ? 6 : 20);
    const id = `port-${safe(sw.name)}-${safe(p.name)}`;
    led(g, x, py, id, { "data-state": p.up ? "up" : "down", "data-peer": p.peer }, p);
    portPos[`${sw.name}:${p.name}`] = y + SWITCH_H / 2;
  });
}

function drawNode(svg, n, y) {
  const g = el("g", { id: "node-" + safe(n.name), "data-status": n.status }, svg);
  const box = el("rect", { x: 0, y, width: W, height: NODE_H, rx: 3, class: "chassis", id: "chassis-" + safe(n.name) }, g);
  box.addEventListener("click", () => select("chassis-" + safe(n.name), n));
  text(g, 8, y + 14, `${n.name}  ${n.status}`);
  led(g, 8, y + 22, "power-" + safe(n.name), { "data-state": n.chassis_on ? "up" : "off" }, { power: n.power_state, host: n.host_state });
  led(g, 20, y + 22, "health-" + safe(n.name), { "data-health": n.health }, { health: n.health });
  led(g, 32, y + 22, "bmc-" + safe(n.name), { "data-state": n.bmc.answering ? "up" : "down" }, n.bmc);
  const rows = [["psu", 8, 32], ["fan", 60, 32], ["dimm", 140, 32], ["data-disk", 140, 54], ["boot-drive", 60, 54], ["nic", 8, 54]];
  const labels = { psu: "psu", fan: "fans", dimm: "dimms", "data-disk": "disks", "boot-drive": "boot", nic: "nic" };
  for (const [kind, x0, dy] of rows) {
    text(g, x0, y + dy + 17, labels[kind], { class: "label" });
    (n.parts[kind] || []).forEach((p, i) => {
      led(g, x0 + i * 11, y + dy, `part-${safe(n.name)}-${kind}-${safe(p.name)}`,
        { "data-health": p.health, "data-kind": kind }, Object.assign({ node: n.name, kind }, p));
    });
  }
  text(g, 290, y + 14, n.bmc.address, { "font-size": 9 });
  text(g, 290, y + 28, `vms ${n.vms}` + (n.operation ? `  ${n.operation}` : ""));
}

function cable(svg, id, fromY, toY, lane, st, info) {
  const x = W + 10 + lane;
  const d = `M ${W} ${fromY} C ${x} ${fromY}, ${x} ${toY}, ${W} ${toY}`;
  const p = el("path", { d, class: "link", id, "data-state": st }, svg);
  p.addEventListener("click", () => select(id, info));
}

function draw(rack) {
  const svg = document.getElementById("rack");
  svg.replaceChildren();
  const switches = rack.switches;
  const top = switches.length * (SWITCH_H + 6) + 10;
  const height = top + rack.nodes.length * (NODE_H + 6) + 10;
  svg.setAttribute("width", W + GUTTER);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `-2 -2 ${W + GUTTER} ${height}`);
  const portPos = {};
  const switchY = {};
  switches.forEach((sw, i) => {
    const y = 4 + i * (SWITCH_H + 6);
    switchY[sw.name] = y + SWITCH_H / 2;
    drawSwitch(svg, sw, y, portPos);
  });
  rack.nodes.forEach((n, i) => {
    const y = top + i * (NODE_H + 6);
    drawNode(svg, n, y);
    n.links.forEach((l, j) => {
      const st = l.cut ? "cut" : (l.up ? "up" : "down");
      const to = portPos[l.peer] ?? switchY[l.peer.split(":")[0]] ?? 0;
      cable(svg, `link-${safe(n.name)}-${safe(l.nic)}`, y + 58, to, 20 + i * 14 + j * 5, st, l);
    });
    const b = n.bmc.link;
    const bst = b.cut ? "cut" : (b.up ? "up" : "down");
    const to = portPos[b.peer] ?? switchY[b.peer.split(":")[0]] ?? 0;
    cable(svg, `link-${safe(n.name)}-bmc`, y + 26, to, 150 + i * 6, bst, b);
  });
  if (state.selected) {
    const s = document.getElementById(state.selected);
    if (s) s.classList.add("selected");
  }
}

function fillSide(rack) {
  document.getElementById("rack-name").textContent = rack.name;
  const su = document.getElementById("scale-unit");
  su.textContent = "scale unit: " + rack.scale_unit;
  su.dataset.state = rack.scale_unit;
  document.getElementById("clock").textContent = new Date(rack.now * 1000).toISOString().replace("T", " ").slice(0, 19);
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren();
  for (const n of rack.nodes) {
    const tr = document.createElement("tr");
    tr.id = "row-" + safe(n.name);
    for (const v of [n.name, n.status, n.power_state, n.health, n.vms]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren();
  for (const a of rack.alerts) {
    const li = document.createElement("li");
    li.id = "alert-" + safe(a.id);
    li.dataset.kind = a.kind;
    li.dataset.severity = a.severity;
    li.textContent = `${a.severity}: ${a.title} (${a.component})`;
    alerts.appendChild(li);
  }
  const dev = document.getElementById("f-device");
  if (!dev.options.length) {
    for (const d of [...rack.nodes, ...rack.switches]) dev.add(new Option(d.name, d.name));
  }
}

// -- data ----------------------------------------------------------------------------------
async function refresh() {
  if (state.inFlight) { state.dirty = true; return; }
  state.inFlight = true;
  try {
    do {
      state.dirty = false;
      const upTo = state.lastSeq;
      const r = await fetch("/ui/rack", { credentials: "same-origin" });
      if (!r.ok) throw new Error(`GET /ui/rack: ${r.status}`);
      state.rack = await r.json();
      draw(state.rack);
      fillSide(state.rack);
      document.body.dataset.drawnSeq = String(upTo);
      const t0 = state.arrived.get(upTo);
      if (t0 !== undefined) document.body.dataset.lastDelayMs = String(Math.round(performance.now() - t0));
      for (const seq of state.arrived.keys()) if (seq <= upTo) state.arrived.delete(seq);
    } while (state.dirty);
  } finally {
    state.inFlight = false;
  }
}

function describe(e) {
  const skip = new Set(["seq", "type", "device", "at"]);
  const rest = Object.entries(e).filter(([k]) => !skip.has(k)).map(([k, v]) =>
    `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
  return rest.length > 160 ? rest.slice(0, 157) + "..." : rest;
}

function addTimeline(e) {
  const ol = document.getElementById("timeline");
  const li = document.createElement("li");
  li.dataset.type = e.type;
  li.dataset.seq = e.seq;
  if (e.type.startsWith("fault.")) li.className = "fault";
  else if (e.type.startsWith("fabric.alert")) li.className = "alert";
  else if (e.type.startsWith("lab.rule")) li.className = "rule";
  else if (e.type.startsWith("lab.") || e.type.startsWith("controller.")) li.className = "step";
  const t = new Date(e.at * 1000).toISOString().slice(11, 19);
  li.textContent = `${t} ${e.device} ${e.type} ${describe(e)}`;
  ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > TIMELINE_MAX) ol.removeChild(ol.lastChild);
}

function onEvent(e) {
  if (e.seq !== undefined) {
    if (e.seq <= state.lastSeq) return;     // a replay after a reconnect
    state.lastSeq = e.seq;
    state.arrived.set(e.seq, performance.now());
  }
  addTimeline(e);
  if (e.type.startsWith("lab.")) refreshLab();
  refresh();
}

function connect() {
  const badge = document.getElementById("stream");
  const src = new EventSource(`/ui/events?since=${state.lastSeq}`);
  src.onopen = () => { badge.textContent = "live"; badge.dataset.state = "live"; };
  src.onerror = () => { badge.textContent = "reconnecting"; badge.dataset.state = "closed"; };
  src.onmessage = (m) => onEvent(JSON.parse(m.data));
  state.source = src;
}

// -- the trainer's panel --------------------------------------------------------------------
async function loadCatalogue() {
  const r = await fetch("/faults/catalogue", { credentials: "same-origin" });
  if (!r.ok) return;
  const kinds = await r.json();
  const sel = document.getElementById("f-kind");
  for (const k of kinds) sel.add(new Option(`${k.name} (${k.scope})`, k.name));
}

async function inject(ev) {
  ev.preventDefault();
  const body = {
    device: document.getElementById("f-device").value,
    kind: document.getElementById("f-kind").value,
  };
  const part = document.getElementById("f-part").value.trim();
  if (part) body.part = part;
  const r = await fetch("/faults", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Scaleunit-UI": "1" },
    body: JSON.stringify(body),
  });
  const out = await r.json();
  document.getElementById("trainer-msg").textContent =
    r.ok ? `injected ${out.id}: ${out.detail}` : `refused: ${out.error ? out.error.message : r.status}`;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Scaleunit-UI": "1" },
    body: JSON.stringify(body || {}),
  });
  let out = {};
  try { out = await r.json(); } catch (e) { out = {}; }
  return { ok: r.ok, status: r.status, out };
}

function say(text) { document.getElementById("trainer-msg").textContent = text; }

async function loadScenarios() {
  const r = await fetch("/labs/scenarios", { credentials: "same-origin" });
  if (!r.ok) return;
  const sel = document.getElementById("l-scenario");
  for (const s of await r.json()) sel.add(new Option(s.title, s.name));
}

async function startLab(ev) {
  ev.preventDefault();
  const name = document.getElementById("l-scenario").value;
  const { ok, out } = await post("/labs", { scenario: name });
  say(ok ? `lab ${out.title}: starting (the stage is set once every node runs)` :
    `refused: ${out.error || "?"}`);
}

async function finishLab() {
  const { ok, out } = await post("/labs/current/finish");
  say(ok ? `lab graded: ${out.grade.score} / 100` : `refused: ${out.error || "?"}`);
  await refreshLab();
}

async function refreshLab() {
  const r = await fetch("/labs/current", { credentials: "same-origin" });
  const div = document.getElementById("lab");
  if (!r.ok) { div.textContent = ""; return; }
  const lab = await r.json();
  state.lab = lab;
  div.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = `lab: ${lab.title} (${lab.state})`;
  div.appendChild(h);
  const ol = document.createElement("ol");
  ol.id = "lab-steps";
  for (const s of lab.steps) {
    const li = document.createElement("li");
    li.id = "lab-step-" + safe(s.id);
    li.dataset.done = s.done ? "true" : "false";
    li.textContent = `${s.done ? "\u2713" : "\u2022"} ${s.title}` + (s.done && s.took_s !== null ? ` (${Math.round(s.took_s)} s)` : "");
    ol.appendChild(li);
  }
  div.appendChild(ol);
  for (const b of lab.rule_breaks || []) {
    const p = document.createElement("p");
    p.className = "rule-break";
    p.textContent = `rule broken: ${b.rule}: ${b.consequence}`;
    div.appendChild(p);
  }
  if (lab.grade) {
    const p = document.createElement("p");
    p.id = "lab-grade";
    p.textContent = `grade: ${lab.grade.score} / 100`;
    div.appendChild(p);
  }
}

async function start() {
  document.getElementById("inject").addEventListener("submit", inject);
  document.getElementById("lab-start").addEventListener("submit", startLab);
  document.getElementById("lab-finish").addEventListener("click", finishLab);
  const r = await fetch("/events?limit=100", { credentials: "same-origin" });
  if (r.ok) {
    const recent = await r.json();
    for (const e of recent.events) addTimeline(e);
    state.lastSeq = recent.last_seq;
  }
  await refresh();
  connect();
  await loadCatalogue();
  await loadScenarios();
  await refreshLab();
}

window.addEventListener("DOMContentLoaded", () => { start().catch((e) => {
  document.getElementById("stream").textContent = "error: " + e.message;
}); });
