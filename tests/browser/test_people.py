"""People in the loop, in a real browser: a person approves a pipeline stage from the console.

A pipeline of a model writer, a person (rita, a `[[person]]` of the manifest) and a model editor runs
under `arena run` against a scripted chat-completions server in this process. The run waits at
rita's stage; the test opens the console, sees it read-only, pastes rita's token (`arena token
issue`), comments and approves the stage; the editor then works, the coordinator archives, and the
run ends by itself.
"""

import json
import re
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import expect

from test_console import SHOTS, Server, arena, arena_ok, browser, open_page, page  # noqa: F401 (fixtures)


def completion(text=None, calls=()):
    message = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ]
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "test",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}


def answer(request):
    """The writer drafts step 1; the editor revises (step 3) once steps 1 and 2 are done."""
    messages = request.get("messages", [])
    system = messages[0].get("content") or "" if messages else ""
    me = system.split("You are ", 1)[1].split(",", 1)[0] if "You are " in system else ""
    context = (messages[1].get("content") or "") if len(messages) > 1 else ""
    if any(m.get("role") == "tool" for m in messages):
        return completion("my part is in")
    if me == "writer":
        step = 1
    elif me == "editor" and "2 of 3 steps are completed" in context:
        step = 3
    else:
        return completion("waiting")
    return completion(calls=[
        ("put_artifact", {"kind": "draft", "content": f"{me} wrote this"}),
        ("complete_step", {"step": step}),
        ("set_slot_status", {"status": "done"}),
    ])


class Model(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply = json.dumps(answer(json.loads(body or b"{}"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


MANIFEST = """
[arena]
goal = "A reviewed field guide"
steps = 3
strategy = "pipeline"

[[arena.stage]]
agent = "writer"
steps = "1"

[[arena.stage]]
agent = "rita"
steps = "2"
depends_on = ["writer"]

[[arena.stage]]
agent = "editor"
steps = "3"
depends_on = ["rita"]

[run]
schedule = "concurrent"
max_turns = 10
deadline_ms = 180000

[[plugin]]
agent = "lead"
role = "coordinator"
component = "builtin:coordinator"
idle_ms = 100

[[person]]
agent = "rita"
role = "worker"
"""

AGENT = """
[[plugin]]
agent = "{name}"
role = "worker"
component = "builtin:llm-agent"
idle_ms = 100
allowed_outbound_hosts = ["{endpoint}"]

[plugin.config]
endpoint = "{endpoint}"
model = "test-model"
"""


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_a_person_approves_a_stage_between_two_scripted_model_agents(tmp_path, page):
    model = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{model.server_address[1]}"
    manifest = tmp_path / "human-review.toml"
    manifest.write_text(MANIFEST + AGENT.format(name="writer", endpoint=endpoint)
                        + AGENT.format(name="editor", endpoint=endpoint))
    db = tmp_path / "arena.db"
    run = arena(db, "run", str(manifest), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = None
    try:
        # `arena run` tells how rita joins: the token command names the arena.
        joined = None
        for line in run.stderr:
            joined = re.search(r"arena token issue (\S+) rita", line)
            if joined:
                break
        assert joined, "arena run did not say how the person joins"
        arena_id = joined.group(1)
        threading.Thread(target=lambda: [None for _ in run.stderr], daemon=True).start()
        server = Server(db)
        token = arena_ok(db, "token", "issue", arena_id, "rita", "--label", "console")

        page.goto(f"{server.url}#/arenas/{arena_id}")
        # Without a token the console is read-only: no way to act, only a way to give a token.
        expect(page.locator("#act-open")).to_be_visible()
        expect(page.locator("#act-approve")).to_have_count(0)
        page.locator("#act-open").click()
        expect(page.locator("#act-card")).to_contain_text("This page is read-only")
        expect(page.locator("#act-approve")).to_have_count(0)

        # The writer's stage is done; the run waits at rita's.
        deadline = time.monotonic() + 90
        while True:
            slots = get(f"{server.url}api/arenas/{arena_id}/slots")
            if any(s["agent"] == "writer" and s["status"] == "done" for s in slots):
                break
            assert time.monotonic() < deadline, f"the writer never finished: {slots}"
            time.sleep(0.2)
        time.sleep(1.5)
        assert run.poll() is None, "the run ended before the person acted"
        assert get(f"{server.url}api/arenas/{arena_id}")["status"] == "active"

        page.locator("#act-token").fill(token)
        page.locator("#act-use").click()
        expect(page.locator("#act-who")).to_have_text("Acting as rita (worker)")
        # A worker is offered no coordinator's action.
        expect(page.locator("#act-settle")).to_have_count(0)
        page.locator("#act-reason").fill("the draft reads well")
        page.locator("#act-approve").click()
        expect(page.locator("#act-status")).to_have_text("approved: your stage is done")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#act-card").screenshot(path=str(SHOTS / "people-approved.png"))

        assert run.wait(timeout=120) == 0
        info = get(f"{server.url}api/arenas/{arena_id}")
        assert info["status"] == "archived"
        events = get(f"{server.url}api/arenas/{arena_id}/events?limit=1000")["events"]
        mine = [(e["kind"]) for e in events if e["actor"] == "rita"]
        assert mine == ["progress-reported", "step-completed", "slot-updated"]
        steps = [e["actor"] for e in events if e["kind"] == "step-completed"]
        assert steps == ["writer", "rita", "editor"]
        # The console shows the person's comment in the log, under rita.
        expect(page.locator("#timeline")).to_contain_text("approved: the draft reads well")
        # The token stays in the tab, not in a cookie.
        assert not any(token in c["value"] for c in page.context.cookies())
    finally:
        # The page lets go of its live stream before the server stops.
        page.goto("about:blank")
        if run.poll() is None:
            run.terminate()
            run.wait(timeout=15)
        if server:
            server.stop()
        model.shutdown()
