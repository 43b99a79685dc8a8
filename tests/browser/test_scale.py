"""The console on a large arena, in a real browser: the page of an arena of 20,000 events shows its
newest events first (the log is read from its end, the live stream starts after it), and its
history comes in behind them, so that the time slider reaches event 1.

The arena is the one `arena bench` opens in its console cases, written through the host as agents
write; `ARENA_BENCH_CONSOLE_EVENTS` sets its size (the benchmark measures 100,000; this test keeps
CI short). How fast the page answers is the benchmark's business, not this test's.
"""

import json
import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from test_console import ARENA, Server, arena_env, arena_ok, browser, open_page  # noqa: F401

EVENTS = 20_000


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """A served arena of EVENTS events: (server, arena id)."""
    if not ARENA.exists():
        pytest.fail(f"{ARENA} is missing: build it first (cargo build)")
    tmp = tmp_path_factory.mktemp("large")
    fixtures = tmp / "fixtures"
    env = dict(arena_env(), ARENA_BENCH_CONSOLE_EVENTS=str(EVENTS))
    done = subprocess.run([str(ARENA), "bench", "--smoke", "--only", "console", "--fixtures", str(fixtures)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"arena bench failed: {done.stderr}"
    built = sorted(fixtures.glob(f"console-{EVENTS}-v*.db"))
    assert len(built) == 1, f"no fixture of {EVENTS} events in {sorted(fixtures.iterdir())}"
    db = tmp / "arena.db"
    shutil.copy(built[0], db)
    arena_id = json.loads(arena_ok(db, "--json", "list").splitlines()[-1])["id"]
    s = Server(db, "--access-log", "off")
    try:
        yield s, arena_id
    finally:
        s.stop()


def test_a_large_arena_opens_on_its_newest_events_and_its_slider_reaches_event_1(browser, large):  # noqa: F811
    server, arena_id = large
    page = open_page(browser)
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(f"{server.url}#/arenas/{arena_id}")

    # The newest event is on screen, and the arena says how long its log is.
    expect(page.locator(f'#timeline li[data-seq="{EVENTS}"]')).to_be_visible()
    expect(page.locator("#events-text")).to_have_text(f"{EVENTS} events")
    # The live stream starts after the newest event: the log is not streamed from its start.
    streams = [url for url in asked if "/events/stream" in url]
    assert streams and all(url.endswith(f"?after={EVENTS}") for url in streams), streams
    # The older events come in behind, a page at a time, until all are read.
    expect(page.locator("#event-count")).to_have_text(f"({EVENTS})", timeout=120_000)

    # Home on the slider goes to event 1, and its row is there.
    page.locator("#slider").focus()
    page.keyboard.press("Home")
    expect(page.locator("#time-text")).to_have_text("as it was after event 1")
    expect(page.locator("#timeline li.current")).to_have_attribute("data-seq", "1")
    expect(page.locator("#timeline li.current .kind")).to_have_text("arena-created")
    # The arena as it was then: created, nothing done.
    expect(page.locator("#status")).to_have_text("created")
    assert not page.errors, page.errors
    page.close()
