// The SharedArena console: the arena list, and one arena followed live over Server-Sent Events.
// Plain JavaScript, no dependencies; everything it shows comes from the read-only API under /api.
"use strict";

const $ = (id) => document.getElementById(id);

/** Builds an element: el("td", {class: "x"}, "text", child, …). Text is never parsed as HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    // Through the CSSOM: the page's content security policy refuses style attributes.
    else if (key === "style") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child));
  return node;
}

async function api(path) {
  const response = await fetch("/api" + path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || response.status + " " + response.statusText);
  return body;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

const clock = (ts) => (ts || "").replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1 UTC");
const shortTime = (ts) => ((ts || "").match(/T(\d\d:\d\d:\d\d)/) || [])[1] || ts;
const artifactSeq = (id) => Number((id || "").replace(/^art-/, "")) || 0;
const truncate = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

function pill(status) {
  return el("span", { class: "pill", "data-status": status }, status);
}

function progressBar(done, total) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  return el("div", { class: "mini" },
    el("div", { class: "bar" }, el("div", { class: "bar-fill", style: { width: pct + "%" } })),
    el("span", { class: "muted" }, `${done}/${total}`));
}

// ---------------------------------------------------------------- the arena list

let listTimer = null;
let listAfter = null;

async function loadList(append) {
  const params = new URLSearchParams({ limit: "100" });
  if ($("filter-status").value) params.set("status", $("filter-status").value);
  if ($("filter-agent").value.trim()) params.set("agent", $("filter-agent").value.trim());
  if (append && listAfter) params.set("after", listAfter);
  try {
    const page = await api("/arenas?" + params);
    const rows = page.arenas.map((a) =>
      el("tr", { class: "row", "data-id": a.id, onclick: () => (location.hash = "#/arenas/" + a.id) },
        el("td", {}, el("a", { href: "#/arenas/" + a.id }, a.goal), el("div", { class: "muted small" }, a.id)),
        el("td", {}, pill(a.status)),
        el("td", {}, progressBar(a.aggregate["completed-steps"], a.aggregate["total-steps"])),
        el("td", {}, a.participants.map((p) => p.agent).join(", ")),
        el("td", { class: "muted" }, clock(a["created-at"]))));
    if (append) $("arena-rows").append(...rows);
    else $("arena-rows").replaceChildren(...rows);
    listAfter = page.next;
    $("arena-more").hidden = !page.next;
    $("arena-empty").hidden = $("arena-rows").children.length > 0;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function showList() {
  closeArena();
  $("list-view").hidden = false;
  $("arena-view").hidden = true;
  $("crumb").textContent = "";
  loadList(false);
  listTimer = setInterval(() => loadList(false), 2000);
}

// ---------------------------------------------------------------- one arena

const view = {
  id: null,
  source: null,
  events: [], // compact: {seq, ts, actor, kind, text, status?, kindOf?}
  info: null, // the arena now
  shown: null, // the arena at the slider's sequence number
  slots: [],
  facts: [],
  live: true,
  seq: 0, // the slider's sequence number when not live
  refreshTimer: null,
  atTimer: null,
  verifiedAt: 0,
};

/** One line of text for an event: what a person needs from its payload. */
function describe(e, p) {
  switch (e.kind) {
    case "arena-created": return `created the arena: “${truncate(p.goal || "", 80)}”`;
    case "agent-joined": return `${p.agent} joined as ${p.role}`;
    case "agent-left": return `left the arena`;
    case "arena-activated": return "activated the arena";
    case "step-completed": return `completed step ${p.step}`;
    case "artifact-put": return `put art-${e.seq} (${p.kind}, ${(p.content || "").length} characters)`;
    case "artifact-merged": return `merged ${(p.sources || []).join(", ")} into art-${e.seq}`;
    case "fact-added": return `shared a fact: “${truncate(p.content || "", 90)}”`;
    case "slot-updated": return `set its slot to ${p.status}`;
    case "goal-updated": return `changed the goal: “${truncate(p.goal || "", 80)}”`;
    case "arena-settling": return "began settling";
    case "arena-archived": return `archived the arena (${(p.report && p.report.outcome) || "done"})`;
    default: {
      const rest = Object.entries(p).filter(([k]) => k !== "v").map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
      return truncate(rest.join(", "), 120) || "";
    }
  }
}

function closeArena() {
  if (view.source) view.source.close();
  view.source = null;
  clearTimeout(view.refreshTimer);
  clearTimeout(view.atTimer);
  clearInterval(listTimer);
  setConn("idle");
}

function setConn(state) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = { idle: "idle", live: "live", waiting: "reconnecting…" }[state];
}

function showArena(id) {
  closeArena();
  Object.assign(view, { id, events: [], info: null, shown: null, slots: [], facts: [], live: true, seq: 0, verifiedAt: 0 });
  $("list-view").hidden = true;
  $("arena-view").hidden = false;
  $("crumb").textContent = "› " + id;
  $("timeline").replaceChildren();
  $("verify").replaceChildren(el("p", { class: "empty" }, "Not checked yet."));
  refresh();
  const source = new EventSource(`/api/arenas/${encodeURIComponent(id)}/events/stream`);
  view.source = source;
  source.onopen = () => setConn("live");
  source.onerror = () => setConn("waiting");
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    const last = view.events.length ? view.events[view.events.length - 1].seq : 0;
    if (e.seq <= last) return; // the stream never repeats itself, but a page reload might race it
    const p = e.payload && typeof e.payload === "object" ? e.payload : {};
    view.events.push({
      seq: e.seq, ts: e.ts, actor: e.actor, kind: e.kind, text: describe(e, p),
      status: e.kind === "slot-updated" ? p.status : undefined,
      kindOf: p.kind,
    });
    addTimelineRow(view.events[view.events.length - 1]);
    scheduleRefresh();
  };
}

function scheduleRefresh() {
  clearTimeout(view.refreshTimer);
  view.refreshTimer = setTimeout(refresh, 120);
}

/** Reads the arena now, its slots and facts; then draws it (at the slider's position). */
async function refresh() {
  const id = view.id;
  try {
    const base = "/arenas/" + encodeURIComponent(id);
    const [info, slots, facts] = await Promise.all([api(base), api(base + "/slots"), api(base + "/facts?limit=1000")]);
    if (id !== view.id) return;
    Object.assign(view, { info, slots, facts: facts.facts });
    if (info.status === "archived" && view.verifiedAt !== info["last-seq"]) verify();
    const slider = $("slider");
    slider.max = Math.max(1, info["last-seq"]);
    if (view.live) {
      slider.value = slider.max;
      view.shown = info;
      draw();
    }
    showError(null);
  } catch (error) {
    showError(error);
  }
}

async function verify() {
  const id = view.id;
  view.verifiedAt = view.info ? view.info["last-seq"] : 0;
  $("verify").replaceChildren(el("p", { class: "muted" }, "Walking the hash chain and replaying the log…"));
  try {
    const v = await api(`/arenas/${encodeURIComponent(id)}/verify`);
    if (id !== view.id) return;
    $("verify").replaceChildren(
      el("p", { class: v.ok ? "verdict ok" : "verdict bad", id: "verify-verdict" },
        v.ok ? `✓ ${v.events} events: hash chain intact, replay matches the stored state`
             : `✗ verification failed: ${v.problem}`));
  } catch (error) {
    $("verify").replaceChildren(el("p", { class: "verdict bad" }, String(error.message)));
  }
}

function onSlider() {
  const slider = $("slider");
  const seq = Number(slider.value);
  view.live = seq >= Number(slider.max) && view.info && seq >= view.info["last-seq"];
  view.seq = seq;
  if (view.live) {
    goLive();
    return;
  }
  draw(); // the parts known from the log move at once; the arena's state follows
  clearTimeout(view.atTimer);
  view.atTimer = setTimeout(async () => {
    try {
      const at = await api(`/arenas/${encodeURIComponent(view.id)}?at=${seq}`);
      if (!view.live && view.seq === seq) {
        view.shown = at;
        draw();
      }
    } catch (error) {
      showError(error);
    }
  }, 80);
}

/** Back to the arena as it is now, the newest events in view. */
function goLive() {
  view.live = true;
  $("slider").value = $("slider").max;
  view.shown = view.info;
  draw();
  $("timeline").scrollTop = 0;
}

/** The sequence number being shown. */
const shownSeq = () => (view.live ? (view.info ? view.info["last-seq"] : 0) : view.seq);

/** Each slot's status right after event `seq`, from the log. */
function slotStatusAt(seq) {
  const status = {};
  for (const e of view.events) {
    if (e.seq > seq) break;
    if (e.status) status[e.actor] = e.status;
  }
  return status;
}

function draw() {
  const info = view.shown || view.info;
  if (!info) return;
  const seq = shownSeq();
  const total = info.aggregate["total-steps"];
  const done = info.aggregate["completed-steps"];
  $("goal").textContent = info.goal;
  $("status").textContent = info.status;
  $("status").dataset.status = info.status;
  $("outcome").textContent = info.outcome ? `(${info.outcome})` : "";
  $("strategy").textContent = strategyText(info.strategy);
  $("arena-id").textContent = info.id;
  $("created").textContent = `${clock(info["created-at"])} by ${info["created-by"]}`;
  $("steps-text").textContent = `${done} of ${total} steps`;
  $("events-text").textContent = `${info["last-seq"]} events`;
  $("steps-bar").style.width = (total ? (100 * done) / total : 0) + "%";
  const order = ["created", "active", "settling", "archived"];
  for (const li of $("lifecycle").children) {
    const i = order.indexOf(li.dataset.state);
    const now = order.indexOf(info.status);
    li.className = i < now ? "past" : i === now ? "now" : "";
  }
  $("time-text").textContent = view.live ? `live · event ${seq}` : `as it was after event ${seq}`;
  $("time-text").dataset.live = view.live ? "yes" : "no";
  $("live").disabled = view.live;
  const status = slotStatusAt(seq);
  drawPipeline(info, status);
  drawPeople(info, status);
  drawSlots(seq, status);
  drawFacts(seq);
  drawReport(info.report);
  const timeline = $("timeline");
  for (const row of timeline.children) {
    row.classList.toggle("future", Number(row.dataset.seq) > seq);
    const current = !view.live && Number(row.dataset.seq) === seq;
    row.classList.toggle("current", current);
    if (current) timeline.scrollTop = row.offsetTop - timeline.clientHeight / 3;
  }
  $("event-count").textContent = `(${view.events.length})`;
}

function strategyText(strategy) {
  if (strategy.peer) return `peer, coordinated by ${strategy.peer}`;
  return `pipeline, coordinated by ${strategy.pipeline.coordinator}`;
}

const ranges = (steps) => steps.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}–${r.last}`)).join(", ");

/** waiting / working / done / failed, from the slot status. */
function stageState(status) {
  return status === "done" ? "done" : status === "working" ? "working" : status === "failed" ? "failed" : "waiting";
}

function drawPipeline(info, status) {
  const nodes = [];
  const edges = [];
  if (info.strategy.pipeline) {
    const stages = info.strategy.pipeline.stages;
    const depth = {};
    const depthOf = (agent, seen = new Set()) => {
      if (agent in depth) return depth[agent];
      if (seen.has(agent)) return 0;
      seen.add(agent);
      const stage = stages.find((s) => s.agent === agent);
      const d = stage && stage["depends-on"].length ? 1 + Math.max(...stage["depends-on"].map((a) => depthOf(a, seen))) : 0;
      return (depth[agent] = d);
    };
    stages.forEach((s) => depthOf(s.agent));
    for (const s of stages) {
      nodes.push({ key: s.agent, title: s.agent, sub: `steps ${ranges(s.steps)}`, col: depth[s.agent], state: stageState(status[s.agent]) });
      for (const d of s["depends-on"]) edges.push([d, s.agent]);
    }
    const last = Math.max(0, ...Object.values(depth)) + 1;
    const coordinator = info.strategy.pipeline.coordinator;
    const settle = info.status === "archived" ? "done" : info.status === "settling" ? "working" : "waiting";
    nodes.push({ key: "·settle", title: coordinator, sub: "settles and merges", col: last, state: settle });
    const leaves = stages.filter((s) => !stages.some((o) => o["depends-on"].includes(s.agent)));
    for (const s of leaves) edges.push([s.agent, "·settle"]);
  } else {
    const coordinator = info.strategy.peer;
    const workers = info.participants.filter((p) => p.agent !== coordinator && p.permissions.includes("contribute"));
    nodes.push({ key: coordinator, title: coordinator, sub: "coordinator", col: 0, state: info.status === "archived" ? "done" : info.status === "created" ? "waiting" : "working" });
    for (const w of workers) {
      nodes.push({ key: w.agent, title: w.agent, sub: "peer", col: 1, state: stageState(status[w.agent]) });
      edges.push([coordinator, w.agent]);
    }
  }
  const W = 150, H = 54, GX = 56, GY = 18;
  const rows = {};
  for (const n of nodes) {
    n.row = rows[n.col] = (rows[n.col] ?? -1) + 1;
  }
  const maxRows = Math.max(1, ...Object.values(rows).map((r) => r + 1));
  const cols = Math.max(...nodes.map((n) => n.col)) + 1;
  const width = cols * W + (cols - 1) * GX + 20;
  const height = maxRows * H + (maxRows - 1) * GY + 20;
  for (const n of nodes) {
    const inCol = rows[n.col] + 1;
    const offset = ((maxRows - inCol) * (H + GY)) / 2;
    n.x = 10 + n.col * (W + GX);
    n.y = 10 + offset + n.row * (H + GY);
  }
  const at = Object.fromEntries(nodes.map((n) => [n.key, n]));
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": "pipeline" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))),
    edges.filter(([a, b]) => at[a] && at[b]).map(([a, b]) => {
      const from = at[a], to = at[b];
      const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x - 2, y2 = to.y + H / 2;
      const mid = (x1 + x2) / 2;
      return svg("path", { d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`, class: "edge " + from.state, "marker-end": "url(#arrow)" });
    }),
    nodes.map((n) => svg("g", { class: "node " + n.state, "data-stage": n.key, transform: `translate(${n.x},${n.y})` },
      svg("rect", { width: W, height: H, rx: 10 }),
      svg("text", { x: 12, y: 21, class: "node-title" }, n.title),
      svg("text", { x: 12, y: 40, class: "node-sub" }, n.sub),
      svg("text", { x: W - 10, y: 21, class: "node-state", "text-anchor": "end" }, n.state))));
  drawing.style.maxWidth = width + "px";
  $("pipeline").replaceChildren(drawing);
}

function drawPeople(info, status) {
  const progress = Object.fromEntries(info.aggregate.progress.map((p) => [p.agent, p]));
  $("people").replaceChildren(...info.participants.map((p) =>
    el("tr", {},
      el("td", { class: "agent" }, el("span", { class: "slot-dot " + (status[p.agent] || "idle"), title: "slot " + (status[p.agent] || "idle") }), el("strong", {}, p.agent)),
      el("td", {}, el("span", { class: "role " + p.role }, p.role)),
      el("td", {}, p.permissions.map((perm) => el("span", { class: "chip" }, perm))),
      el("td", { class: "num" }, progress[p.agent] ? progress[p.agent]["steps-completed"] : 0),
      el("td", { class: "muted" }, progress[p.agent] && progress[p.agent].note ? progress[p.agent].note : ""))));
}

function drawSlots(seq, status) {
  const kinds = Object.fromEntries(view.events.filter((e) => e.kindOf).map((e) => ["art-" + e.seq, e.kindOf]));
  const slots = view.slots.map((slot) => {
    const artifacts = slot.artifacts.filter((id) => artifactSeq(id) <= seq);
    const state = view.live ? slot.status : status[slot.agent] || "idle";
    return el("div", { class: "slot" },
      el("div", { class: "slot-head" }, el("strong", {}, slot.agent), el("span", { class: "pill small", "data-status": state }, state),
        el("span", { class: "muted" }, `${artifacts.length} artifact${artifacts.length === 1 ? "" : "s"}`)),
      el("ul", { class: "artifacts" }, artifacts.map((id) =>
        el("li", {}, el("button", { class: "artifact", "data-artifact": id, onclick: () => openArtifact(id) },
          el("code", {}, id), el("span", { class: "muted" }, kinds[id] || "artifact"))))));
  });
  $("slots").replaceChildren(...(slots.length ? slots : [el("p", { class: "empty" }, "No slots yet.")]));
}

async function openArtifact(id) {
  try {
    const a = await api(`/arenas/${encodeURIComponent(view.id)}/artifacts/${encodeURIComponent(id)}`);
    $("artifact-title").textContent = `${a.id} · ${a.kind} by ${a.author}`;
    const meta = Object.entries(a.metadata).map(([k, v]) => `${k}=${v}`);
    $("artifact-meta").textContent = [clock(a["created-at"]), a.sources.length ? "from " + a.sources.join(", ") : "", meta.join("  ")]
      .filter(Boolean).join(" · ");
    $("artifact-content").textContent = a.content;
    $("artifact-dialog").showModal();
  } catch (error) {
    showError(error);
  }
}

function drawFacts(seq) {
  const facts = view.facts.filter((f) => f.seq <= seq);
  $("facts").replaceChildren(...facts.map((f) =>
    el("tr", {},
      el("td", {}, f.content),
      el("td", {}, el("div", { class: "confidence" }, el("div", { class: "bar" }, el("div", { class: "bar-fill", style: { width: Math.round(f.confidence * 100) + "%" } })), el("span", {}, f.confidence.toFixed(2)))),
      el("td", {}, f.tags.map((t) => el("span", { class: "chip tag" }, t))),
      el("td", {}, f.source),
      el("td", { class: "muted" }, "#" + f.seq))));
  $("facts-empty").hidden = facts.length > 0;
}

function drawReport(report) {
  if (!report) {
    $("report").replaceChildren(el("p", { class: "empty" }, "Produced when the arena is archived."));
    return;
  }
  $("report").replaceChildren(
    el("dl", { class: "report" },
      el("dt", {}, "Outcome"), el("dd", { id: "report-outcome" }, report.outcome),
      el("dt", {}, "Steps"), el("dd", {}, `${report["completed-steps"]} of ${report["total-steps"]}`),
      el("dt", {}, "Artifacts"), el("dd", {}, `${report.artifacts} (${report.merges} merged)`),
      el("dt", {}, "Facts"), el("dd", {}, report.facts),
      el("dt", {}, "Events"), el("dd", {}, report.events)),
    el("table", { class: "contributions" },
      el("thead", {}, el("tr", {}, el("th", {}, "Agent"), el("th", { class: "num" }, "Steps"), el("th", { class: "num" }, "Artifacts"), el("th", { class: "num" }, "Facts"))),
      el("tbody", {}, report.contributions.map((c) =>
        el("tr", {}, el("td", {}, c.agent), el("td", { class: "num" }, c.steps), el("td", { class: "num" }, c.artifacts), el("td", { class: "num" }, c.facts))))));
}

function addTimelineRow(e) {
  const timeline = $("timeline");
  const row = el("li", { "data-seq": e.seq, "data-kind": e.kind, onclick: () => { $("slider").value = e.seq; onSlider(); } },
    el("span", { class: "seq" }, "#" + e.seq),
    el("span", { class: "when muted" }, shortTime(e.ts)),
    el("span", { class: "actor" }, e.actor),
    el("span", { class: "kind k-" + e.kind.split("-")[0] }, e.kind),
    el("span", { class: "what" }, e.text));
  timeline.prepend(row);
  // The page keeps the newest 500 rows; the API pages through the rest.
  while (timeline.children.length > 500) timeline.lastChild.remove();
}

// ---------------------------------------------------------------- routing

function route() {
  const match = location.hash.match(/^#\/arenas\/([^/]+)$/);
  if (match) showArena(decodeURIComponent(match[1]));
  else showList();
}

document.addEventListener("DOMContentLoaded", () => {
  $("slider").addEventListener("input", onSlider);
  $("live").addEventListener("click", goLive);
  $("verify-again").addEventListener("click", verify);
  $("filter-status").addEventListener("change", () => loadList(false));
  $("filter-agent").addEventListener("input", () => loadList(false));
  $("arena-more").addEventListener("click", () => loadList(true));
  window.addEventListener("hashchange", route);
  route();
});
