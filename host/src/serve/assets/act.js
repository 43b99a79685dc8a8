// People in the loop: acting as an agent from the console.
//
// A person pastes a token of their agent (`arena token issue ARENA AGENT`) into the arena's "Act as an
// agent" card. The token is kept in this tab's sessionStorage for that arena (never in a cookie) and
// sent only in the `Authorization: Bearer` header of the requests to /api/arenas/ID/act, so a page
// elsewhere can neither read it nor make this browser act. Every action is one tool call of the
// catalogue, the tools MCP offers, checked against the agent's grant by the server. Without a token
// the page stays read-only. The arena view refreshes itself from the live event stream.
"use strict";

(() => {
  const KEY = "arena-act:";
  const $ = (id) => document.getElementById(id);

  function node(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c != null) e.append(c);
    return e;
  }

  /** The arena the address shows, or null. */
  function arenaId() {
    const m = location.hash.match(/^#\/arenas\/([^/?]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  const state = { arena: null, token: null, who: null, open: false };

  async function call(method, body) {
    const response = await fetch(`api/arenas/${encodeURIComponent(state.arena)}/act`, {
      method,
      headers: { Authorization: `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
    });
    const answer = await response.json().catch(() => ({ error: "host", message: `HTTP ${response.status}` }));
    if (!response.ok) throw Object.assign(new Error(answer.message || answer.error), { error: answer.error });
    return answer;
  }

  const tool = (name, args) => call("POST", { tool: name, arguments: args || {} });

  function say(text, failed) {
    const status = $("act-status");
    if (!status) return;
    status.textContent = text;
    status.dataset.state = failed ? "error" : "ok";
  }

  /** Runs `steps` (async functions) in order, then says `done`; the first refusal is shown. */
  async function perform(done, ...steps) {
    say("working…");
    try {
      for (const step of steps) await step();
      say(done);
    } catch (e) {
      say(e.message, true);
    }
  }

  const can = (permission) => state.who && state.who.permissions.includes(permission);
  const reason = () => ($("act-reason").value || "").trim();

  /** The steps the agent's own pipeline stage owns. */
  async function ownSteps() {
    const response = await fetch(`api/arenas/${encodeURIComponent(state.arena)}`);
    const info = await response.json();
    const pipeline = info.strategy && info.strategy.pipeline;
    const stage = pipeline && pipeline.stages.find((s) => s.agent === state.who.agent);
    const steps = [];
    for (const range of stage ? stage.steps : []) for (let n = range.first; n <= range.last; n++) steps.push(n);
    return steps;
  }

  async function approve() {
    const note = reason();
    await perform(
      "approved: your stage is done",
      ...(note ? [() => tool("report_progress", { note: `approved: ${note}` })] : []),
      async () => {
        for (const step of await ownSteps()) {
          try {
            await tool("complete_step", { step });
          } catch (e) {
            if (e.error !== "already-done") throw e;
          }
        }
      },
      () => tool("set_slot_status", { status: "done" }),
    );
  }

  async function reject() {
    const note = reason();
    if (!note) return say("a rejection needs a reason", true);
    await perform(
      "rejected: your stage is failed",
      () => tool("report_progress", { note: `rejected: ${note}` }),
      () => tool("set_slot_status", { status: "failed" }),
    );
  }

  function button(id, label, onclick, title) {
    return node("button", { id, class: "button", type: "button", title, onclick }, label);
  }

  /** Read-only and not asked for: only a small button in the summary, which takes no room. */
  function renderClosed(anchor) {
    if ($("act-card")) $("act-card").remove();
    if ($("act-open")) return;
    const meta = anchor.querySelector(".meta");
    if (!meta) return;
    meta.append(node("button", { id: "act-open", class: "link small", type: "button",
      title: "act as one of the arena's agents, with its token", onclick: () => { state.open = true; render(); } },
    "Act as an agent…"));
  }

  function render() {
    let card = $("act-card");
    const anchor = document.querySelector("#arena-content .summary");
    if (!anchor) return;
    if (!state.who && !state.open) return renderClosed(anchor);
    if ($("act-open")) $("act-open").remove();
    if (!card) {
      card = node("section", { id: "act-card", class: "card act-card" });
      anchor.after(card);
    }
    const head = node("div", { class: "card-head" }, node("h2", {}, "Act as an agent"));
    if (!state.who) {
      const form = node("form", { id: "act-form", class: "act-row", onsubmit: (e) => { e.preventDefault(); use($("act-token").value.trim()); } },
        node("input", { id: "act-token", type: "password", autocomplete: "off", placeholder: "arena_… token", "aria-label": "agent token", size: 28 }),
        node("button", { id: "act-use", class: "button", type: "submit" }, "Act"));
      head.append(button("act-close", "Close", () => { state.open = false; render(); }));
      card.replaceChildren(head,
        node("p", { class: "muted small" }, "This page is read-only. To act as an agent, paste a token of it (",
          node("code", {}, `arena token issue ${state.arena} AGENT`), "); it is kept in this tab only."),
        form, node("p", { id: "act-status", class: "act-status small" }));
      return;
    }
    const who = state.who;
    head.append(button("act-forget", "Stop acting", forget));
    const rows = [node("p", { id: "act-who" }, "Acting as ", node("strong", {}, who.agent), ` (${who.role || "participant"})`)];
    if (can("contribute")) {
      rows.push(
        node("label", { class: "act-field" }, "Comment or reason",
          node("textarea", { id: "act-reason", rows: 2, placeholder: "a note for the team, or why you reject" })),
        node("div", { class: "act-row" },
          button("act-approve", "Approve stage", approve, "complete your stage's steps and mark your slot done"),
          button("act-reject", "Reject stage", reject, "mark your slot failed, with the reason as a note"),
          button("act-note", "Post comment", () => reason()
            ? perform("comment posted", () => tool("report_progress", { note: reason() }))
            : say("write a comment first", true))),
        node("label", { class: "act-field" }, "Artifact",
          node("textarea", { id: "act-artifact", rows: 3, placeholder: "content to put in your slot" })),
        node("div", { class: "act-row" },
          node("input", { id: "act-kind", placeholder: "kind (text)", size: 10, "aria-label": "artifact kind" }),
          button("act-put", "Put artifact", () => perform("artifact stored",
            () => tool("put_artifact", { content: $("act-artifact").value, ...($("act-kind").value ? { kind: $("act-kind").value } : {}) })))));
    }
    if (can("share-facts")) {
      rows.push(node("div", { class: "act-row" },
        node("input", { id: "act-fact", placeholder: "a fact to share", size: 28, "aria-label": "fact" }),
        node("input", { id: "act-fact-tags", placeholder: "tags, comma-separated", size: 14, "aria-label": "fact tags" }),
        button("act-add-fact", "Add fact", () => perform("fact shared", () => tool("add_fact", {
          content: $("act-fact").value,
          tags: $("act-fact-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
        })))));
    }
    if (can("coordinate")) {
      rows.push(node("div", { class: "act-row" },
        button("act-activate", "Activate", () => perform("activated", () => tool("activate"))),
        button("act-settle", "Settle", () => perform("settling", () => tool("settle"))),
        node("input", { id: "act-sources", placeholder: "merge sources: art-3, art-7", size: 20, "aria-label": "merge sources" }),
        button("act-merge", "Merge", () => perform("merged", () => tool("merge", {
          content: $("act-artifact") ? $("act-artifact").value : "",
          sources: $("act-sources").value.split(",").map((t) => t.trim()).filter(Boolean),
        })), "store the artifact text above as the merged result of these sources"),
        button("act-archive", "Archive", () => perform("archived", () => tool("archive"))),
        button("act-abort", "Abort", () => reason()
          ? perform("aborted", () => tool("abort", { reason: reason() }))
          : say("an abort needs a reason", true))));
    }
    card.replaceChildren(head, ...rows, node("p", { id: "act-status", class: "act-status small" }));
  }

  async function use(token) {
    if (!token) return;
    state.token = token;
    try {
      state.who = await call("GET");
      sessionStorage.setItem(KEY + state.arena, token);
      render();
      say(`acting as ${state.who.agent}`);
    } catch (e) {
      state.token = null;
      state.who = null;
      sessionStorage.removeItem(KEY + state.arena);
      render();
      say(e.error === "unauthorized" ? "that token is not honoured for this arena" : e.message, true);
    }
  }

  function forget() {
    sessionStorage.removeItem(KEY + state.arena);
    state.token = null;
    state.who = null;
    state.open = false;
    render();
  }

  function route() {
    const id = arenaId();
    if (id === state.arena && $("act-card")) return;
    state.arena = id;
    state.token = null;
    state.who = null;
    state.open = false;
    if (!id) return;
    render();
    const kept = sessionStorage.getItem(KEY + id);
    if (kept) use(kept);
  }

  window.addEventListener("hashchange", route);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", route);
  else route();
})();
