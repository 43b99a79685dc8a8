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

/** An API answer; a failure throws an Error carrying the HTTP status and the error variant. */
async function api(path) {
  const response = await fetch("/api" + path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.message || response.status + " " + response.statusText);
    error.status = response.status;
    error.variant = body.error;
    throw error;
  }
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
const enc = encodeURIComponent;

/** What a status badge says: an archived arena whose outcome is an abort is "aborted", not "archived". */
function badge(status, outcome) {
  return status === "archived" && /^abort/i.test(outcome || "") ? "aborted" : status;
}

function pill(status, outcome) {
  const shown = badge(status, outcome);
  return el("span", { class: "pill", "data-status": shown, title: outcome || undefined }, shown);
}

function progressBar(done, total) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  return el("div", { class: "mini" },
    el("div", { class: "bar" }, el("div", { class: "bar-fill", style: { width: pct + "%" } })),
    el("span", { class: "muted" }, `${done}/${total}`));
}

// ---------------------------------------------------------------- a small, safe Markdown

/**
 * Renders a Markdown subset into DOM nodes: headings, paragraphs, lists, block quotes, fenced code,
 * rules, and inline code, bold, italic and links. Nothing is ever parsed as HTML: every piece of
 * text becomes a text node, so markup in the source shows as the characters it is. Links keep only
 * http(s), mailto and in-page addresses.
 */
function markdown(source) {
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let i = 0;
  const isBlank = (l) => /^\s*$/.test(l);
  const listItem = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) { i++; continue; }
    let m;
    if ((m = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/))) {
      const fence = m[1];
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) code.push(lines[i++]);
      i++;
      out.push(el("pre", { class: "md-code" }, el("code", {}, code.join("\n"))));
      continue;
    }
    if ((m = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/))) {
      out.push(el("h" + Math.min(6, m[1].length + 1), {}, inline(m[2])));
      i++;
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) { out.push(el("hr", {})); i++; continue; }
    if (/^\s{0,3}>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s{0,3}>\s?/, ""));
      out.push(el("blockquote", {}, markdown(quoted.join("\n"))));
      continue;
    }
    if ((m = line.match(listItem))) {
      const ordered = /\d/.test(m[1]);
      const items = [];
      while (i < lines.length && (m = lines[i].match(listItem)) && /\d/.test(m[1]) === ordered) {
        let text = m[2];
        i++;
        while (i < lines.length && !isBlank(lines[i]) && !listItem.test(lines[i]) && /^\s+/.test(lines[i])) text += " " + lines[i++].trim();
        items.push(el("li", {}, inline(text)));
      }
      out.push(el(ordered ? "ol" : "ul", {}, items));
      continue;
    }
    const para = [];
    while (i < lines.length && !isBlank(lines[i]) && !/^\s*(```|~~~|#{1,6}\s|>)/.test(lines[i]) && !listItem.test(lines[i])) para.push(lines[i++].trim());
    out.push(el("p", {}, inline(para.join(" "))));
  }
  return out;
}

/** Inline Markdown: `code`, **bold**, *italic* / _italic_, [text](url). Text nodes only. */
function inline(text) {
  const out = [];
  const pattern = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\b_([^_\s][^_]*)_\b|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let m;
  while ((m = pattern.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(el("code", {}, m[2]));
    else if (m[3] || m[4]) out.push(el("strong", {}, inline(m[3] || m[4])));
    else if (m[5] || m[6]) out.push(el("em", {}, inline(m[5] || m[6])));
    else if (m[7]) {
      const href = m[8];
      out.push(/^(https?:|mailto:|#)/i.test(href)
        ? el("a", { href, rel: "noopener noreferrer", target: href.startsWith("#") ? undefined : "_blank" }, inline(m[7]))
        : m[0]);
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// ---------------------------------------------------------------- the arena list

let listTimer = null;
let listAfter = null;
let listGeneration = 0;

function listParams() {
  const params = new URLSearchParams();
  if ($("filter-status").value) params.set("status", $("filter-status").value);
  if ($("filter-agent").value.trim()) params.set("agent", $("filter-agent").value.trim());
  if ($("filter-goal").value.trim()) params.set("goal", $("filter-goal").value.trim());
  return params;
}

function arenaRow(a) {
  return el("tr", { class: "row", "data-id": a.id, onclick: () => (location.hash = "#/arenas/" + a.id) },
    el("td", { class: "goal-cell" }, el("a", { href: "#/arenas/" + a.id }, a.goal), el("div", { class: "muted small" }, a.id)),
    el("td", {}, pill(a.status, a.outcome)),
    el("td", {}, progressBar(a.aggregate["completed-steps"], a.aggregate["total-steps"])),
    el("td", { class: "narrow-hide" }, a.participants.map((p) => p.agent).join(", ")),
    el("td", { class: "muted narrow-hide" }, clock(a["created-at"])));
}

/**
 * Loads the list. `append` reads the next page after the rows shown; otherwise the list is read
 * again from the start, as many pages as rows are shown, so that rows paged in stay in place.
 */
async function loadList(append) {
  const generation = append ? listGeneration : ++listGeneration;
  try {
    if (append) {
      if (!listAfter) return;
      const params = listParams();
      params.set("limit", "100");
      params.set("after", listAfter);
      const page = await api("/arenas?" + params);
      if (generation !== listGeneration) return;
      $("arena-rows").append(...page.arenas.map(arenaRow));
      listAfter = page.next;
    } else {
      const wanted = Math.max(100, $("arena-rows").children.length);
      const rows = [];
      let after = null;
      let next = null;
      do {
        const params = listParams();
        params.set("limit", String(Math.min(1000, wanted - rows.length)));
        if (after) params.set("after", after);
        const page = await api("/arenas?" + params);
        if (generation !== listGeneration) return;
        rows.push(...page.arenas.map(arenaRow));
        next = page.next;
        after = next;
      } while (next && rows.length < wanted);
      $("arena-rows").replaceChildren(...rows);
      listAfter = next;
    }
    $("arena-more").hidden = !listAfter;
    $("arena-count").textContent = `${$("arena-rows").children.length} shown`;
    $("arena-empty").hidden = $("arena-rows").children.length > 0;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

/** A changed filter starts the list again from its first page. */
function refilter() {
  $("arena-rows").replaceChildren();
  loadList(false);
}

function showList() {
  closeArena();
  $("list-view").hidden = false;
  $("arena-view").hidden = true;
  $("facts-view").hidden = true;
  $("crumb").textContent = "";
  loadList(false);
  listTimer = setInterval(() => loadList(false), 2000);
}

// ---------------------------------------------------------------- facts across arenas

let factsAfter = null;
let factsGeneration = 0;
const goals = new Map(); // arena id → goal, as far as the page has seen

/** A tag chip that finds the facts carrying it, across arenas. */
const tagChip = (t) => el("a", { class: "chip tag", href: "#/facts?tag=" + enc(t), "data-tag": t }, t);

async function loadFacts(append) {
  const tag = $("facts-tag").value.trim();
  const text = $("facts-text").value.trim();
  const generation = append ? factsGeneration : ++factsGeneration;
  if (!append) {
    $("all-facts").replaceChildren();
    factsAfter = null;
  }
  $("facts-more").hidden = true;
  $("all-facts-empty").textContent = tag ? "No facts carry this tag." : "Facts are found by tag: give one above, or click a tag anywhere.";
  $("all-facts-empty").hidden = false;
  if (!tag) return;
  const params = new URLSearchParams({ tag, limit: "100" });
  if (text) params.set("text", text);
  if (append && factsAfter) {
    params.set("after_arena", factsAfter.arena);
    params.set("after_seq", String(factsAfter.seq));
  }
  try {
    const page = await api("/facts?" + params);
    if (generation !== factsGeneration) return;
    for (const id of new Set(page.facts.map((f) => f.arena).filter((id) => !goals.has(id)))) {
      try { goals.set(id, (await api("/arenas/" + enc(id))).goal); } catch (_) { goals.set(id, id); }
    }
    if (generation !== factsGeneration) return;
    const known = new Set([...$("facts-tags").options].map((o) => o.value));
    for (const t of new Set(page.facts.flatMap((f) => f.tags))) if (!known.has(t)) $("facts-tags").append(el("option", { value: t }));
    $("all-facts").append(...page.facts.map((f) =>
      el("tr", { "data-arena": f.arena },
        el("td", {}, f.content),
        el("td", {}, el("div", { class: "confidence" }, el("div", { class: "bar" }, el("div", { class: "bar-fill", style: { width: Math.round(f.confidence * 100) + "%" } })), el("span", {}, f.confidence.toFixed(2)))),
        el("td", {}, f.tags.map(tagChip)),
        el("td", { class: "narrow-hide" }, f.source),
        el("td", {}, el("a", { href: `#/arenas/${enc(f.arena)}?at=${f.seq}`, title: `${f.arena}, event ${f.seq}` }, truncate(goals.get(f.arena) || f.arena, 48))))));
    factsAfter = page.next;
    $("facts-more").hidden = !page.next;
    $("all-facts-empty").hidden = $("all-facts").children.length > 0;
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function showFacts(params) {
  closeArena();
  for (const v of ["list-view", "arena-view"]) $(v).hidden = true;
  $("facts-view").hidden = false;
  $("crumb").textContent = "› facts";
  $("facts-tag").value = params.get("tag") || "";
  $("facts-text").value = params.get("text") || "";
  loadFacts(false);
}

/** The facts page's address, from its filters. */
function factsHash() {
  const params = new URLSearchParams();
  if ($("facts-tag").value.trim()) params.set("tag", $("facts-tag").value.trim());
  if ($("facts-text").value.trim()) params.set("text", $("facts-text").value.trim());
  const query = params.toString();
  return "#/facts" + (query ? "?" + query : "");
}

// ---------------------------------------------------------------- one arena

const TIMELINE_ROWS = 500;

const view = {
  id: null,
  source: null,
  events: [], // compact: {seq, ts, actor, kind, text, status?, kindOf?, sources?}
  info: null, // the arena now
  shown: null, // the arena at the slider's sequence number
  slots: [],
  facts: [],
  live: true,
  seq: 0, // the slider's sequence number when not live
  pendingAt: null, // a sequence number asked for by the address, applied once the arena is known
  artifact: null, // the artifact open in the dialog
  refreshTimer: null,
  atTimer: null,
  timelineTimer: null,
  drawTimer: null,
  first: 1, // the oldest event read: the log is read from its end
  verifiedAt: 0,
  missing: false,
};

/** One line of text for an event: what a person needs from its payload. */
function describe(e, p) {
  switch (e.kind) {
    case "arena-created": return `created the arena: “${truncate(p.goal || "", 80)}”`;
    case "arena-forked": return `forked this arena from ${p.parent} at event ${p.seq}`;
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
  clearTimeout(view.timelineTimer);
  clearTimeout(view.drawTimer);
  view.drawTimer = null;
  clearInterval(listTimer);
  logGeneration++;
  view.id = null;
  setConn("idle");
}

function setConn(state) {
  const conn = $("conn");
  conn.dataset.state = state;
  conn.textContent = { idle: "idle", live: "live", waiting: "reconnecting…", gone: "no such arena" }[state];
}

/** The address of the arena view: `#/arenas/ID`, `?at=SEQ` when rewound, `/artifacts/ART` when one is open. */
function arenaHash() {
  let hash = "#/arenas/" + enc(view.id);
  if (view.artifact) hash += "/artifacts/" + enc(view.artifact);
  const params = new URLSearchParams();
  if (!view.live) params.set("at", view.seq);
  if (Number($("compare-from").value)) params.set("from", $("compare-from").value);
  if (params.toString()) hash += "?" + params;
  return hash;
}

function updateAddress() {
  if (view.id && location.hash !== arenaHash()) history.replaceState(null, "", arenaHash());
}

function showArena(id, at, artifact) {
  if (view.id === id && !view.missing) {
    // The same arena: only the time or the open artifact changed.
    applyAddress(at, artifact);
    return;
  }
  closeArena();
  Object.assign(view, {
    id, events: [], first: 1, info: null, shown: null, slots: [], facts: [], live: true, seq: 0, verifiedAt: 0,
    missing: false, pendingAt: at, artifact: null,
  });
  $("list-view").hidden = true;
  $("facts-view").hidden = true;
  $("arena-view").hidden = false;
  $("arena-content").hidden = true;
  $("arena-missing").hidden = true;
  $("crumb").textContent = "› " + id;
  for (const part of ["goal", "status", "outcome", "strategy", "arena-id", "created", "steps-text", "events-text"]) $(part).textContent = "";
  for (const part of ["pipeline", "people", "slots", "facts", "report"]) $(part).replaceChildren();
  $("timeline").replaceChildren();
  $("event-count").textContent = "";
  $("filter-actor").replaceChildren(el("option", { value: "" }, "any agent"));
  $("filter-kind").replaceChildren(el("option", { value: "" }, "any kind"));
  $("verify").replaceChildren(el("p", { class: "empty" }, "Not checked yet."));
  $("result").replaceChildren();
  $("result-card").hidden = true;
  $("fact-search").value = "";
  $("artifact-search").value = "";
  view.found = null;
  if (artifact) openArtifact(artifact);
  refresh();
  openLog(id);
}

/** An event as the page keeps it: what the timeline, the slider and the changes need. */
function compact(e) {
  const p = e.payload && typeof e.payload === "object" ? e.payload : {};
  return {
    seq: e.seq, ts: e.ts, actor: e.actor, kind: e.kind, text: describe(e, p),
    status: e.kind === "slot-updated" ? p.status : undefined,
    kindOf: p.kind,
    sources: e.kind === "artifact-merged" ? p.sources || [] : undefined,
    step: e.kind === "step-completed" ? p.step : undefined,
    parent: e.kind === "arena-forked" ? p.parent : undefined,
    parentSeq: e.kind === "arena-forked" ? p.seq : undefined,
  };
}

/** Events read per request of the log. */
const LOG_PAGE = 1000;

/** Counts the arenas opened, so that a reader of an arena left behind stops. */
let logGeneration = 0;

/**
 * Reads the arena's log from its end: its newest page first, then the live stream after it, then
 * the older events a page at a time in the background. The page of a long arena shows at once,
 * and its timeline reaches event 1 once its history is in.
 */
async function openLog(id) {
  const generation = ++logGeneration;
  let page;
  let after = 0;
  try {
    const last = (await api("/arenas/" + enc(id)))["last-seq"];
    after = Math.max(0, last - LOG_PAGE);
    page = await api(`/arenas/${enc(id)}/events?after=${after}&limit=${LOG_PAGE}`);
  } catch (error) {
    if (generation !== logGeneration) return;
    // An unknown arena: `refresh` says so. Anything else: the stream reads the log from the start.
    if (error.status === 404 || error.variant === "invalid-input") return;
    page = { events: [] };
    after = 0;
  }
  if (generation !== logGeneration || view.missing) return;
  view.events = page.events.map(compact);
  view.first = after + 1;
  openStream(id, view.events.length ? view.events[view.events.length - 1].seq : after);
  // The newest events go on screen at once; the history's pages are drawn in batches.
  if (view.info) {
    draw();
    drawResult();
  } else drawTimeline();
  while (view.first > 1) {
    const from = Math.max(0, view.first - 1 - LOG_PAGE);
    let older;
    try {
      older = await api(`/arenas/${enc(id)}/events?after=${from}&limit=${view.first - 1 - from}`);
    } catch (error) {
      if (generation === logGeneration) showError(error);
      return;
    }
    if (generation !== logGeneration) return;
    view.events = older.events.map(compact).concat(view.events);
    view.first = from + 1;
    scheduleDraw();
  }
}

/** The live stream of the arena's events after event `after`. */
function openStream(id, after) {
  const source = new EventSource(`/api/arenas/${enc(id)}/events/stream?after=${after}`);
  view.source = source;
  source.onopen = () => setConn("live");
  source.onerror = () => {
    if (source !== view.source) return;
    // A stream the server refused (an unknown arena) is closed for good; say so instead of waiting.
    if (source.readyState === EventSource.CLOSED) {
      refresh();
      setConn(view.missing ? "gone" : "idle");
    } else setConn("waiting");
  };
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    const last = view.events.length ? view.events[view.events.length - 1].seq : 0;
    if (e.seq <= last) return; // the stream never repeats itself, but a page reload might race it
    view.events.push(compact(e));
    scheduleTimeline();
    scheduleRefresh();
  };
}

/** Redraws soon, once for a burst of history pages. */
function scheduleDraw() {
  if (view.drawTimer) return;
  view.drawTimer = setTimeout(() => {
    view.drawTimer = null;
    if (!view.info) {
      drawTimeline();
      return;
    }
    draw();
    drawResult(); // the result is found in the log, which may just have come in
  }, view.first > 1 ? 400 : 100); // while the history comes in, fewer redraws of a growing log
}

/** Applies `?at=` and `/artifacts/` of the address to the arena on screen. */
function applyAddress(at, artifact) {
  if (at && view.info) setSeq(Math.min(at, view.info["last-seq"]));
  else if (!at && !view.live) goLive();
  if (artifact && artifact !== view.artifact) openArtifact(artifact);
  if (!artifact && view.artifact) $("artifact-dialog").close();
}

function scheduleRefresh() {
  clearTimeout(view.refreshTimer);
  view.refreshTimer = setTimeout(refresh, 120);
}

function scheduleTimeline() {
  if (view.timelineTimer) return;
  view.timelineTimer = setTimeout(() => {
    view.timelineTimer = null;
    drawTimeline();
  }, 60);
}

/** Reads the arena now, its slots and facts; then draws it (at the slider's position). */
async function refresh() {
  const id = view.id;
  if (!id) return;
  try {
    const base = "/arenas/" + enc(id);
    const [info, slots, facts] = await Promise.all([api(base), api(base + "/slots"), api(base + "/facts?limit=1000")]);
    if (id !== view.id) return;
    Object.assign(view, { info, slots, facts: facts.facts });
    $("arena-content").hidden = false;
    if (info.status === "archived" && view.verifiedAt !== info["last-seq"]) verify();
    const slider = $("slider");
    slider.max = Math.max(1, info["last-seq"]);
    $("seq-input").max = slider.max;
    if (view.pendingAt) {
      const at = view.pendingAt;
      view.pendingAt = null;
      setSeq(Math.min(at, info["last-seq"]));
    } else if (view.live) {
      slider.value = slider.max;
      view.shown = info;
      draw();
    } else draw();
    drawResult();
    showError(null);
  } catch (error) {
    if (id !== view.id) return;
    if ((error.status === 404 || error.variant === "invalid-input") && !view.info) {
      // An unknown arena: nothing of another arena stays on screen, and nothing waits for it.
      view.missing = true;
      if (view.source) view.source.close();
      setConn("gone");
      $("arena-content").hidden = true;
      $("arena-missing").hidden = false;
      $("missing-id").textContent = id;
      $("missing-why").textContent = error.message;
      return;
    }
    showError(error);
  }
}

async function verify() {
  const id = view.id;
  view.verifiedAt = view.info ? view.info["last-seq"] : 0;
  $("verify").replaceChildren(el("p", { class: "muted" }, "Walking the hash chain and replaying the log…"));
  try {
    const v = await api(`/arenas/${enc(id)}/verify`);
    if (id !== view.id) return;
    $("verify").replaceChildren(
      el("p", { class: v.ok ? "verdict ok" : "verdict bad", id: "verify-verdict" },
        v.ok ? `✓ ${v.events} events: hash chain intact, replay matches the stored state`
             : `✗ verification failed: ${v.problem}`));
  } catch (error) {
    $("verify").replaceChildren(el("p", { class: "verdict bad" }, String(error.message)));
  }
}

/** Shows the arena as it was after event `seq` (live when it is the last). */
function setSeq(seq) {
  const slider = $("slider");
  const last = view.info ? view.info["last-seq"] : Number(slider.max);
  seq = Math.max(1, Math.min(Math.round(seq) || 1, last));
  slider.value = seq;
  onSlider();
}

function onSlider() {
  const slider = $("slider");
  const seq = Number(slider.value);
  view.live = Boolean(seq >= Number(slider.max) && view.info && seq >= view.info["last-seq"]);
  view.seq = seq;
  if (view.live) {
    goLive();
    return;
  }
  updateAddress();
  draw(); // the parts known from the log move at once; the arena's state follows
  clearTimeout(view.atTimer);
  view.atTimer = setTimeout(async () => {
    try {
      const at = await api(`/arenas/${enc(view.id)}?at=${seq}`);
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
  updateAddress();
  draw();
  $("timeline").scrollTop = 0;
}

/** The sequence number being shown. */
const shownSeq = () => (view.live ? (view.info ? view.info["last-seq"] : 0) : view.seq);

/** Each slot's status right after event `seq`: the server's now when live, else from the log. */
function slotStatusAt(seq) {
  if (view.live) return Object.fromEntries(view.slots.map((s) => [s.agent, s.status]));
  return logStatusAt(seq);
}

/** Each slot's status right after event `seq`, from the log. */
function logStatusAt(seq) {
  const status = {};
  for (const e of view.events) {
    if (e.seq > seq) break;
    if (e.status) status[e.actor] = e.status;
  }
  return status;
}

/** Agents who completed a step or put an artifact by event `seq`. */
function workedBy(seq) {
  const worked = new Set();
  for (const e of view.events) {
    if (e.seq > seq) break;
    if (e.kind === "step-completed" || e.kind === "artifact-put") worked.add(e.actor);
  }
  return worked;
}

function draw() {
  const info = view.shown || view.info;
  if (!info) return;
  const seq = shownSeq();
  const total = info.aggregate["total-steps"];
  const done = info.aggregate["completed-steps"];
  const shownBadge = badge(info.status, info.outcome);
  $("goal").textContent = info.goal;
  $("status").textContent = shownBadge;
  $("status").dataset.status = shownBadge;
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
  if (document.activeElement !== $("seq-input")) $("seq-input").value = seq || "";
  const status = slotStatusAt(seq);
  drawPipeline(info, status, workedBy(seq));
  drawPeople(info, status);
  drawSlots(info, seq, status);
  drawFacts(seq);
  drawReport(info.report);
  drawTimeline();
  drawChanges();
  drawForkOrigin(); // fork.js
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

/** A span of time, short: "840 ms", "3.2 s", "4 min 05 s". */
function duration(ms) {
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, "0")} min`;
}

/**
 * How long each agent's stage took, up to event `seq`, from the log: from its first piece of work
 * (its slot set working, a step, an artifact, a fact) to its slot set done; `running` while not done.
 * The key "·settle" is the settling: from arena-settling to arena-archived.
 */
function stageTimes(seq) {
  const times = {};
  const work = new Set(["step-completed", "artifact-put", "artifact-merged", "fact-added"]);
  for (const e of view.events) {
    if (e.seq > seq) break;
    const key = e.kind === "arena-settling" || e.kind === "arena-archived" ? "·settle" : e.actor;
    const t = times[key] || (times[key] = {});
    const at = Date.parse(e.ts);
    if (e.kind === "arena-settling" || work.has(e.kind) || e.status === "working") {
      if (t.start === undefined) t.start = at;
      if (e.status !== "working") t.end = undefined;
    }
    if ((e.status === "done" || e.kind === "arena-archived") && t.start !== undefined) t.end = at;
  }
  const last = view.events.filter((e) => e.seq <= seq).at(-1);
  const now = last ? Date.parse(last.ts) : 0;
  return Object.fromEntries(Object.entries(times).filter(([, t]) => t.start !== undefined).map(([key, t]) =>
    [key, { ms: (t.end ?? now) - t.start, running: t.end === undefined }]));
}

const NODE_W = 160, NODE_H = 54, GAP_X = 60, GAP_Y = 18, PAD = 10, LANE = 14;

function drawPipeline(info, status, worked) {
  const nodes = [];
  const edges = [];
  if (info.strategy.pipeline) {
    $("pipeline-title").textContent = "Pipeline";
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
    nodes.push({ key: "·settle", title: coordinator, sub: "settles", col: last, state: settle });
    const leaves = stages.filter((s) => !stages.some((o) => o["depends-on"].includes(s.agent)));
    for (const s of leaves) edges.push([s.agent, "·settle"]);
  } else {
    $("pipeline-title").textContent = "Team";
    const coordinator = info.strategy.peer;
    const workers = info.participants.filter((p) => p.agent !== coordinator && p.permissions.includes("contribute"));
    nodes.push({ key: coordinator, title: coordinator, sub: "coordinator", col: 0, state: info.status === "archived" ? "done" : info.status === "created" ? "waiting" : "working" });
    for (const w of workers) {
      // A peer who has worked and is not working now is done (for now), not waiting.
      let state = stageState(status[w.agent]);
      if (state === "waiting" && worked.has(w.agent)) state = "done";
      nodes.push({ key: w.agent, title: w.agent, sub: "peer", col: 1, state });
      edges.push([coordinator, w.agent]);
    }
  }
  const times = stageTimes(shownSeq());
  for (const n of nodes) {
    const t = times[n.key];
    n.took = t && info.strategy.pipeline ? (t.running ? `${duration(t.ms)} so far` : duration(t.ms)) : "";
    if (n.took) n.sub += " · " + n.took;
  }
  const rows = {};
  for (const n of nodes) n.row = rows[n.col] = (rows[n.col] ?? -1) + 1;
  const at = Object.fromEntries(nodes.map((n) => [n.key, n]));
  const shown = edges.filter(([a, b]) => at[a] && at[b]);
  // An edge that skips columns goes round the boxes between: over them, in a lane above every box.
  const skips = shown.some(([a, b]) => at[b].col - at[a].col > 1 || at[b].col <= at[a].col);
  const top = PAD + (skips ? LANE : 0);
  const maxRows = Math.max(1, ...Object.values(rows).map((r) => r + 1));
  const cols = Math.max(...nodes.map((n) => n.col)) + 1;
  const width = cols * NODE_W + (cols - 1) * GAP_X + 2 * PAD;
  const height = top + maxRows * NODE_H + (maxRows - 1) * GAP_Y + PAD;
  for (const n of nodes) {
    const inCol = rows[n.col] + 1;
    const offset = ((maxRows - inCol) * (NODE_H + GAP_Y)) / 2;
    n.x = PAD + n.col * (NODE_W + GAP_X);
    n.y = top + offset + n.row * (NODE_H + GAP_Y);
  }
  const lane = PAD + LANE / 2 - 2;
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": $("pipeline-title").textContent },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" },
      svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))),
    shown.map(([a, b]) => {
      const from = at[a], to = at[b];
      const x1 = from.x + NODE_W, y1 = from.y + NODE_H / 2, x2 = to.x - 2, y2 = to.y + NODE_H / 2;
      let d;
      if (to.col - from.col === 1) {
        const mid = (x1 + x2) / 2;
        d = `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
      } else {
        // Up into the gap after the source, along the lane, down in the gap before the target.
        const g1 = x1 + GAP_X / 2, g2 = x2 - GAP_X / 2 + 2;
        d = `M ${x1} ${y1} C ${g1} ${y1}, ${x1} ${lane}, ${g1} ${lane} L ${g2} ${lane} C ${x2} ${lane}, ${g2} ${y2}, ${x2} ${y2}`;
      }
      return svg("path", { d, class: "edge " + from.state, "data-from": a, "data-to": b, "marker-end": "url(#arrow)" });
    }),
    nodes.map((n) => svg("g", { class: "node " + n.state, "data-stage": n.key, "data-took": n.took, transform: `translate(${n.x},${n.y})` },
      svg("title", {}, `${n.title}: ${n.state}${n.took ? ", " + n.took : ""}`),
      svg("rect", { width: NODE_W, height: NODE_H, rx: 10 }),
      svg("text", { x: 12, y: 21, class: "node-title" }, n.title),
      svg("text", { x: 12, y: 40, class: "node-sub" }, n.sub),
      svg("text", { x: NODE_W - 10, y: 21, class: "node-state", "text-anchor": "end" }, n.state))));
  $("pipeline").replaceChildren(drawing);
  // A long name is cut to the room left of the state label, with an ellipsis (the full name in the
  // title); the line below it to the box.
  const fit = (text, room) => {
    const full = text.textContent;
    let n = full.length;
    while (n > 1 && text.getComputedTextLength() > room) text.textContent = full.slice(0, --n) + "…";
  };
  for (const g of drawing.querySelectorAll("g.node")) {
    const state = g.querySelector(".node-state");
    fit(g.querySelector(".node-title"), NODE_W - 12 - 10 - state.getComputedTextLength() - 8);
    fit(g.querySelector(".node-sub"), NODE_W - 12 - 10);
  }
}

function drawPeople(info, status) {
  const progress = Object.fromEntries(info.aggregate.progress.map((p) => [p.agent, p]));
  $("people").replaceChildren(...info.participants.map((p) =>
    el("tr", {},
      el("td", { class: "agent" }, el("span", { class: "slot-dot " + (status[p.agent] || "idle"), title: "slot " + (status[p.agent] || "idle") }), el("strong", {}, p.agent)),
      el("td", {}, el("span", { class: "role " + p.role }, p.role)),
      el("td", { class: "narrow-hide" }, p.permissions.map((perm) => el("span", { class: "chip" }, perm))),
      el("td", { class: "num" }, progress[p.agent] ? progress[p.agent]["steps-completed"] : 0),
      el("td", { class: "muted" }, progress[p.agent] && progress[p.agent].note ? progress[p.agent].note : ""))));
}

/** The artifacts' kinds, from the log. */
function artifactKinds() {
  return Object.fromEntries(view.events.filter((e) => e.kindOf).map((e) => ["art-" + e.seq, e.kindOf]));
}

/** The artifacts whose content holds the search text (null: no search), once their content is read. */
async function searchArtifacts() {
  const query = $("artifact-search").value.trim().toLowerCase();
  const id = view.id;
  if (!query) {
    view.found = null;
  } else {
    try {
      const slots = await api(`/arenas/${enc(id)}/slots?content=true`);
      if (id !== view.id || query !== $("artifact-search").value.trim().toLowerCase()) return;
      view.found = new Set(slots.flatMap((s) => s.artifacts)
        .filter((a) => a.content.toLowerCase().includes(query) || a.kind.toLowerCase().includes(query) || a.id === query)
        .map((a) => a.id));
    } catch (error) {
      showError(error);
      return;
    }
  }
  draw();
}

function drawSlots(info, seq, status) {
  const kinds = artifactKinds();
  const found = view.found;
  const members = new Set(info.participants.map((p) => p.agent));
  const slots = view.slots
    .map((slot) => ({ slot, artifacts: slot.artifacts.filter((id) => artifactSeq(id) <= seq && (!found || found.has(id))) }))
    .filter(({ artifacts }) => !found || artifacts.length)
    // As it was: only the slots of participants then, or holding something then.
    .filter(({ slot, artifacts }) => view.live || members.has(slot.agent) || artifacts.length || status[slot.agent])
    .map(({ slot, artifacts }) => {
      const state = status[slot.agent] || "idle";
      return el("div", { class: "slot", "data-agent": slot.agent },
        el("div", { class: "slot-head" }, el("strong", {}, slot.agent), el("span", { class: "pill small slot-status", "data-status": state }, state),
          el("span", { class: "muted" }, `${artifacts.length} artifact${artifacts.length === 1 ? "" : "s"}`)),
        el("ul", { class: "artifacts" }, artifacts.map((id) =>
          el("li", {}, el("button", { class: "artifact", "data-artifact": id, onclick: () => showArtifact(id) },
            el("code", {}, id), el("span", { class: "muted" }, kinds[id] || "artifact"))))));
    });
  $("slots").replaceChildren(...(slots.length ? slots : [el("p", { class: "empty" }, found ? "No artifact holds this text." : "No slots yet.")]));
}

// ---------------------------------------------------------------- artifacts and the result

/** How an artifact's content is best shown: "json", "markdown" or "text". */
function contentFormat(a) {
  const kind = (a.kind || "").toLowerCase();
  const trimmed = (a.content || "").trim();
  if (kind === "structured" || kind === "json" || /^[[{]/.test(trimmed)) {
    try {
      JSON.parse(trimmed);
      return "json";
    } catch (_) { /* not JSON after all */ }
  }
  const format = (a.metadata && (a.metadata.format || a.metadata["content-type"])) || "";
  if (kind === "markdown" || kind === "md" || /markdown/i.test(format)) return "markdown";
  if (/^\s{0,3}(#{1,6}\s|[-*]\s|\d+\.\s|```)/m.test(trimmed)) return "markdown";
  return "text";
}

/** The content as `format`: Markdown rendered safely, JSON pretty-printed, text as it is. */
function renderContent(a, format) {
  if (format === "markdown") return el("div", { class: "markdown" }, markdown(a.content));
  if (format === "json") {
    let text = a.content;
    try { text = JSON.stringify(JSON.parse(a.content), null, 2); } catch (_) { /* shown as it is */ }
    return el("pre", { class: "content-pre json" }, text);
  }
  return el("pre", { class: "content-pre" }, a.content);
}

/**
 * A line diff: the longest common subsequence of `a` and `b`, as [op, line, from] with op " ",
 * "-" (only in a) or "+" (only in b). `from` names where an `a` line came from.
 */
function diffLines(a, b) {
  const n = a.length, m = b.length;
  if (n * m > 4_000_000) return [...a.map((l) => ["-", l.text, l.from]), ...b.map((t) => ["+", t])];
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = a[i].text === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i].text === b[j]) { out.push([" ", b[j], a[i].from]); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) out.push(["+", b[j++]]);
    else { out.push(["-", a[i].text, a[i].from]); i++; }
  }
  return out;
}

/** The merged artifact against its sources, one after the other: what the merge kept, added, left out. */
async function mergeDiff(a) {
  const sources = await Promise.all(a.sources.map((id) => api(`/arenas/${enc(view.id)}/artifacts/${enc(id)}`)));
  const before = sources.flatMap((s) => s.content.split("\n").map((text) => ({ text, from: s.id })));
  const lines = diffLines(before, a.content.split("\n"));
  const counts = { "+": 0, "-": 0, " ": 0 };
  for (const [op] of lines) counts[op]++;
  return el("div", { class: "diff" },
    el("p", { class: "muted small diff-summary" },
      `Against ${sources.length} source${sources.length === 1 ? "" : "s"}: ${counts[" "]} lines kept, ${counts["+"]} added by the merge, ${counts["-"]} left out.`),
    el("ol", { class: "diff-lines" }, lines.map(([op, text, from]) =>
      el("li", { class: op === "+" ? "add" : op === "-" ? "del" : "same", "data-op": op },
        el("span", { class: "diff-op" }, op), el("span", { class: "diff-text" }, text || " "),
        from ? el("span", { class: "diff-from muted" }, from) : ""))));
}

const downloadHref = (id) => `/api/arenas/${enc(view.id)}/artifacts/${enc(id)}/content`;

/** A link to an artifact's source: opens it here, at the time shown. */
const sourceLink = (id) =>
  el("a", {
    class: "source", href: `#/arenas/${enc(view.id)}/artifacts/${enc(id)}`, "data-source": id,
    onclick: (click) => { click.preventDefault(); showArtifact(id); },
  }, id);

function showArtifact(id) {
  view.artifact = id;
  updateAddress();
  openArtifact(id);
}

async function openArtifact(id) {
  view.artifact = id;
  try {
    const a = await api(`/arenas/${enc(view.id)}/artifacts/${enc(id)}`);
    if (view.artifact !== id) return;
    $("artifact-title").textContent = `${a.id} · ${a.kind} by ${a.author}`;
    const meta = Object.entries(a.metadata).map(([k, v]) => `${k}=${v}`);
    $("artifact-meta").replaceChildren(
      [clock(a["created-at"]), meta.join("  ")].filter(Boolean).join(" · "),
      a.sources.length ? el("span", { class: "sources" }, " · merged from ", a.sources.flatMap((s, i) => (i ? [", ", sourceLink(s)] : [sourceLink(s)]))) : "");
    const formats = contentFormat(a) === "json" ? ["json", "text"] : contentFormat(a) === "markdown" ? ["markdown", "text"] : ["text", "markdown"];
    if (a.sources.length) formats.push("diff");
    const show = async (format) => {
      let shown;
      try {
        shown = format === "diff" ? await mergeDiff(a) : renderContent(a, format);
      } catch (error) {
        shown = el("p", { class: "verdict bad" }, String(error.message));
      }
      if (view.artifact !== a.id) return;
      $("artifact-content").replaceChildren(shown);
      for (const b of $("artifact-formats").querySelectorAll("button")) b.classList.toggle("on", b.dataset.format === format);
    };
    $("artifact-formats").replaceChildren(...formats.map((f) =>
      el("button", { type: "button", class: "button tab", "data-format": f, onclick: () => show(f) },
        { json: "JSON", markdown: "Markdown", text: "Text", diff: "Diff against sources" }[f])));
    $("artifact-download").href = downloadHref(a.id);
    show(formats[0]);
    if (!$("artifact-dialog").open) $("artifact-dialog").showModal();
  } catch (error) {
    view.artifact = null;
    updateAddress();
    showError(error);
  }
}

/** The arena's result, as its settle report names it: the last merge of an arena that completed. */
function resultArtifact() {
  const report = view.info && view.info.report;
  return (report && report.result) || null;
}

/** An archived arena opens on its result: the merged artifact, rendered, with its sources. */
async function drawResult() {
  const info = view.info;
  const id = info && info.status === "archived" ? resultArtifact() : null;
  const card = $("result-card");
  if (!id) {
    card.hidden = true;
    return;
  }
  if (card.dataset.artifact === id && !card.hidden) return;
  try {
    const a = await api(`/arenas/${enc(view.id)}/artifacts/${enc(id)}`);
    if (!view.info || view.info.id !== info.id) return;
    card.dataset.artifact = id;
    $("result-meta").replaceChildren(
      el("span", {}, `${a.id} by ${a.author}, ${clock(a["created-at"])}`),
      a.sources.length ? el("span", { class: "sources" }, " · from ", a.sources.flatMap((s, i) => (i ? [", ", sourceLink(s)] : [sourceLink(s)]))) : "");
    $("result").replaceChildren(renderContent(a, contentFormat(a) === "json" ? "json" : "markdown"));
    $("result-open").onclick = () => showArtifact(a.id);
    $("result-download").href = downloadHref(a.id);
    card.hidden = false;
  } catch (error) {
    showError(error);
  }
}

function drawFacts(seq) {
  const query = $("fact-search").value.trim().toLowerCase();
  const matches = (f) => !query || f.content.toLowerCase().includes(query) || f.tags.some((t) => t.toLowerCase().includes(query))
    || f.source.toLowerCase().includes(query);
  const facts = view.facts.filter((f) => f.seq <= seq && matches(f));
  $("facts").replaceChildren(...facts.map((f) =>
    el("tr", {},
      el("td", {}, f.content),
      el("td", {}, el("div", { class: "confidence" }, el("div", { class: "bar" }, el("div", { class: "bar-fill", style: { width: Math.round(f.confidence * 100) + "%" } })), el("span", {}, f.confidence.toFixed(2)))),
      el("td", {}, f.tags.map(tagChip)),
      el("td", { class: "narrow-hide" }, f.source),
      el("td", { class: "muted narrow-hide" }, "#" + f.seq))));
  $("facts-empty").hidden = facts.length > 0;
  $("facts-empty").textContent = query ? "No fact matches the search." : "No facts shared yet.";
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
      el("dt", {}, "Events"), el("dd", {}, report.events),
      el("dt", {}, "Result"), el("dd", { id: "report-result" }, report.result || "none"),
      el("dt", {}, "Head"), el("dd", { id: "report-head", class: "hash" }, `${report["head-seq"]}:${report["head-hash"]}`)),
    el("table", { class: "contributions" },
      el("thead", {}, el("tr", {}, el("th", {}, "Agent"), el("th", { class: "num" }, "Steps"), el("th", { class: "num" }, "Artifacts"), el("th", { class: "num" }, "Facts"))),
      el("tbody", {}, report.contributions.map((c) =>
        el("tr", {}, el("td", {}, c.agent), el("td", { class: "num" }, c.steps), el("td", { class: "num" }, c.artifacts), el("td", { class: "num" }, c.facts))))));
}

// ---------------------------------------------------------------- changes between two times

/** The arena's changes from right after event `from` to right after event `to`, from the log. */
function changesBetween(from, to) {
  const between = view.events.filter((e) => e.seq > from && e.seq <= to);
  const before = logStatusAt(from), after = logStatusAt(to);
  const slots = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    .filter((agent) => (before[agent] || "idle") !== (after[agent] || "idle"))
    .map((agent) => ({ agent, from: before[agent] || "idle", to: after[agent] || "idle" }));
  return {
    steps: between.filter((e) => e.kind === "step-completed"),
    slots,
    artifacts: between.filter((e) => e.kind === "artifact-put" || e.kind === "artifact-merged"),
    facts: between.filter((e) => e.kind === "fact-added"),
    arena: between.filter((e) => /^(arena-|agent-|goal-)/.test(e.kind)),
  };
}

function drawChanges() {
  const from = Number($("compare-from").value);
  const card = $("changes-card");
  const to = shownSeq();
  if (!from || !view.info || from >= to) {
    card.hidden = true;
    return;
  }
  const c = changesBetween(from, to);
  const section = (name, title, items) =>
    el("div", { class: "change-group", "data-group": name },
      el("h3", {}, `${title} (${items.length})`),
      items.length ? el("ul", {}, items) : el("p", { class: "empty" }, "none"));
  const at = (e) => el("span", { class: "muted" }, ` #${e.seq}`);
  $("changes-title").textContent = `Changes from event ${from} to event ${to}`;
  $("changes").replaceChildren(
    section("steps", "Steps completed", c.steps.map((e) => el("li", {}, `step ${e.step} by ${e.actor}`, at(e)))),
    section("slots", "Slots", c.slots.map((s) => el("li", {}, el("strong", {}, s.agent), `: ${s.from} → ${s.to}`))),
    section("artifacts", "Artifacts", c.artifacts.map((e) => el("li", {}, sourceLink("art-" + e.seq), ` by ${e.actor}`,
      e.sources ? ` (merged from ${e.sources.join(", ")})` : e.kindOf ? ` (${e.kindOf})` : "", at(e)))),
    section("facts", "Facts", c.facts.map((e) => el("li", {}, `${e.actor} ${e.text}`, at(e)))),
    section("arena", "The arena", c.arena.map((e) => el("li", {}, `${e.actor} ${e.text}`, at(e)))));
  card.hidden = false;
}

// ---------------------------------------------------------------- the timeline

/** Keeps the agent and kind filters' choices in step with the events seen. */
function updateFilterChoices() {
  for (const [select, values] of [["filter-actor", view.events.map((e) => e.actor)], ["filter-kind", view.events.map((e) => e.kind)]]) {
    const box = $(select);
    const known = new Set([...box.options].map((o) => o.value));
    for (const value of [...new Set(values)].sort()) if (!known.has(value)) box.append(el("option", { value }, value));
  }
}

/**
 * Draws the timeline: the events passing the filters, newest first. At most 500 rows are drawn:
 * the newest when live, else those around the event shown, so that any event of a long arena can
 * be reached.
 */
function drawTimeline() {
  updateFilterChoices();
  const actor = $("filter-actor").value;
  const kind = $("filter-kind").value;
  const matching = view.events.filter((e) => (!actor || e.actor === actor) && (!kind || e.kind === kind));
  const seq = shownSeq();
  let from = Math.max(0, matching.length - TIMELINE_ROWS);
  if (!view.live) {
    let at = matching.findIndex((e) => e.seq > seq);
    if (at < 0) at = matching.length;
    from = Math.max(0, Math.min(at - TIMELINE_ROWS / 2, matching.length - TIMELINE_ROWS));
  }
  const wanted = matching.slice(from, from + TIMELINE_ROWS).reverse();
  const timeline = $("timeline");
  // New events arrive on top; the rows already there stay (and do not flash again).
  const have = [...timeline.children].map((row) => Number(row.dataset.seq));
  const k = have.length ? wanted.findIndex((e) => e.seq === have[0]) : -1;
  const kept = k >= 0 && have.slice(0, wanted.length - k).every((seq, i) => wanted[k + i].seq === seq);
  if (kept) {
    timeline.prepend(...wanted.slice(0, k).map(timelineRow));
    while (timeline.children.length > wanted.length) timeline.lastChild.remove();
  } else {
    const rows = wanted.map(timelineRow);
    for (const row of rows) row.classList.add("quiet");
    timeline.replaceChildren(...rows);
  }
  const filtered = actor || kind;
  const loading = view.first > 1 ? `, reading ${view.first - 1} older…` : "";
  $("event-count").textContent = (filtered ? `(${matching.length} of ${view.events.length}` : `(${view.events.length}`) + loading + ")";
  for (const row of timeline.children) {
    row.classList.toggle("future", Number(row.dataset.seq) > seq);
    const current = !view.live && Number(row.dataset.seq) === seq;
    row.classList.toggle("current", current);
    if (current) timeline.scrollTop = row.offsetTop - timeline.clientHeight / 3;
  }
}

function timelineRow(e) {
  return el("li", { "data-seq": e.seq, "data-kind": e.kind, "data-actor": e.actor, onclick: () => setSeq(e.seq) },
    el("span", { class: "seq" }, "#" + e.seq),
    el("span", { class: "when muted" }, shortTime(e.ts)),
    el("span", { class: "actor" }, e.actor),
    el("span", { class: "kind k-" + e.kind.split("-")[0] }, e.kind),
    el("span", { class: "what" }, e.text),
    el("button", { type: "button", class: "raw", title: "the event's raw JSON", "aria-label": `event ${e.seq} as JSON`, onclick: (click) => { click.stopPropagation(); showRaw(e.seq); } }, "{ }"));
}

async function showRaw(seq) {
  try {
    const page = await api(`/arenas/${enc(view.id)}/events?after=${seq - 1}&limit=1`);
    $("raw-title").textContent = `event #${seq}`;
    $("raw-content").textContent = JSON.stringify(page.events[0], null, 2);
    $("raw-dialog").showModal();
  } catch (error) {
    showError(error);
  }
}

// ---------------------------------------------------------------- routing

/** `#/arenas/ID`, `#/arenas/ID?at=N`, `#/arenas/ID/artifacts/ART`, or the list. */
function route() {
  const facts = location.hash.match(/^#\/facts(?:\?(.*))?$/);
  if (facts) {
    showFacts(new URLSearchParams(facts[1] || ""));
    return;
  }
  const match = location.hash.match(/^#\/arenas\/([^/?]+)(?:\/artifacts\/([^/?]+))?(?:\?(.*))?$/);
  if (!match) {
    showList();
    return;
  }
  const params = new URLSearchParams(match[3] || "");
  const at = Number(params.get("at")) || null;
  const id = decodeURIComponent(match[1]);
  if (view.id !== id) $("compare-from").value = params.get("from") || "";
  showArena(id, at, match[2] ? decodeURIComponent(match[2]) : null);
}

/** ← → step the slider one event (Shift: ten), Home and End go to the first and the last. */
function onKey(event) {
  if ($("arena-view").hidden || !view.info || document.querySelector("dialog[open]")) return;
  const target = event.target;
  if (target !== document.body && target !== $("slider") && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName)) return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const step = event.shiftKey ? 10 : 1;
  const seq = shownSeq();
  const last = view.info["last-seq"];
  const to = { ArrowLeft: seq - step, ArrowRight: seq + step, Home: 1, End: last }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  setSeq(to);
}

document.addEventListener("DOMContentLoaded", () => {
  // The token served its purpose once the server set its cookie: it leaves the address bar (and
  // the history), so it is not shared with a copied link or seen over a shoulder.
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  $("slider").addEventListener("input", onSlider);
  $("live").addEventListener("click", goLive);
  $("seq-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setSeq(Number($("seq-input").value));
  });
  $("verify-again").addEventListener("click", verify);
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    updateAddress();
    drawChanges();
  });
  $("compare-clear").addEventListener("click", () => {
    $("compare-from").value = "";
    updateAddress();
    drawChanges();
  });
  $("filter-status").addEventListener("change", refilter);
  $("filter-agent").addEventListener("input", refilter);
  $("filter-goal").addEventListener("input", refilter);
  $("fact-search").addEventListener("input", () => draw());
  let searching = null;
  $("artifact-search").addEventListener("input", () => {
    clearTimeout(searching);
    searching = setTimeout(searchArtifacts, 150);
  });
  $("filter-actor").addEventListener("change", drawTimeline);
  $("filter-kind").addEventListener("change", drawTimeline);
  $("arena-more").addEventListener("click", () => loadList(true));
  $("facts-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (location.hash === factsHash()) loadFacts(false);
    else location.hash = factsHash();
  });
  $("facts-more").addEventListener("click", () => loadFacts(true));
  $("artifact-dialog").addEventListener("close", () => {
    view.artifact = null;
    updateAddress();
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  route();
});
