"use strict";
// Forking from the time slider: a new arena whose state is this one's at the slider's event.
//
// A write: it carries an agent token of this arena's coordinator in the Authorization header (never
// a cookie, so no other site can make the browser send it). The token is kept in this page only.

/** The event the slider shows: the last one when live. */
function forkSeq() {
  if (view.live && view.info) return view.info["last-seq"];
  return Number($("slider").value) || 0;
}

function forkStatus(text, bad) {
  const status = $("fork-status");
  status.textContent = text;
  status.className = bad ? "fork-status bad" : "fork-status";
  status.hidden = !text;
}

/** Asks the server for the fork, then opens it. */
async function forkHere(event) {
  event.preventDefault();
  const id = view.id;
  const at = forkSeq();
  const token = $("fork-token").value.trim();
  if (!id || !at) return;
  if (!token) {
    forkStatus("Forking needs an agent token of this arena's coordinator (arena token issue).", true);
    $("fork-token").focus();
    return;
  }
  $("fork").disabled = true;
  forkStatus(`Forking at event ${at}…`, false);
  try {
    const response = await fetch(`/api/arenas/${enc(id)}/fork`, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ at }),
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      forkStatus(`Not forked: ${body.message || response.status + " " + response.statusText}`, true);
      return;
    }
    forkStatus(`Forked at event ${at} as ${body.id}.`, false);
    location.hash = "#/arenas/" + body.id;
  } catch (error) {
    forkStatus(`Not forked: ${error.message}`, true);
  } finally {
    $("fork").disabled = false;
  }
}

/** On a fork's page, where it came from, linked. */
function drawForkOrigin() {
  const origin = $("fork-origin");
  const forked = view.events.find((e) => e.kind === "arena-forked");
  if (!forked || !forked.parent) {
    origin.hidden = true;
    return;
  }
  origin.replaceChildren("Forked from ",
    el("a", { href: `#/arenas/${enc(forked.parent)}?at=${forked.parentSeq}`, id: "fork-parent" }, forked.parent),
    ` at event ${forked.parentSeq}`);
  origin.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("fork-form").addEventListener("submit", forkHere);
  window.addEventListener("hashchange", () => forkStatus("", false));
});
