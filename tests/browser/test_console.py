"""The console in a real browser: headless Chromium from the system packages, driven by Playwright.

Each test starts `arena serve` on a free port over a database of its own (or the module's finished
sample pipeline), opens the page, and checks what a person would see: the arena appearing, its
progress and timeline moving live, the pipeline's stages lighting up, the result, an artifact's
content, the settle report and verification, the time slider rewinding the arena, and the defects a
real browser once found, each held by the test that would have caught it.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARENA = Path(os.environ.get("ARENA_BIN", ROOT / "target" / "debug" / "arena"))
MANIFEST = Path(__file__).with_name("pipeline.toml")
PEERS = Path(__file__).with_name("peers.toml")
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / "target" / "browser"))
GOAL = "Write a field guide to the birds of the river delta"


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no chromium: install the system package (apt-get install chromium)")
    return found


def arena_env():
    env = dict(os.environ, ARENA_CACHE_DIR=str(ROOT / "target" / "browser" / "component-cache"))
    env.pop("ARENA_SERVE_TOKEN", None)
    return env


def arena(db, *args, **kwargs):
    return subprocess.Popen([str(ARENA), "--db", str(db), *args], env=arena_env(), **kwargs)


def arena_ok(db, *args):
    """Runs an `arena` command to its end; its standard output."""
    done = subprocess.run([str(ARENA), "--db", str(db), *args], env=arena_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"arena {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def run_to_end(db, manifest, tmp):
    """Runs a manifest at full speed (its pace removed) and returns the arena's id."""
    fast = Path(tmp) / manifest.name
    fast.write_text(re.sub(r"(?m)^pace_ms = .*$", "", manifest.read_text()))
    arena_ok(db, "run", str(fast))
    return json.loads(arena_ok(db, "--json", "list").splitlines()[-1])["id"]


class Server:
    def __init__(self, db, *args):
        if not ARENA.exists():
            pytest.fail(f"{ARENA} is missing: build it first (cargo build)")
        self.db = db
        self.proc = arena(db, "serve", "--addr", "127.0.0.1:0", *args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        match = re.match(r"serving (http://\S+/)", line)
        assert match, f"unexpected first line from arena serve: {line!r}"
        self.url = match.group(1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "arena.db")
    yield s.db, s.url
    s.stop()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The sample pipeline, run to its end, served: (server, arena id)."""
    tmp = tmp_path_factory.mktemp("finished")
    db = tmp / "arena.db"
    s = Server(db)
    try:
        yield s, run_to_end(db, MANIFEST, tmp)
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, width=1360, height=1100, **options):
    page = browser.new_page(viewport={"width": width, "height": height}, **options)
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A refused style or script (the page's content security policy) is only a console error; a
    # 404 or 400 the page met on purpose (an unknown or malformed arena id) is one too, and is allowed.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not re.search(r"status of (404|400)", m.text) else None)
    page.errors = errors
    return page


@pytest.fixture
def page(browser):
    page = open_page(browser)
    yield page
    errors = page.errors
    page.close()
    assert not errors, f"the page threw: {errors}"


def seq_of(page, selector):
    return [int(s) for s in page.locator(selector).evaluate_all("rows => rows.map(r => r.dataset.seq)")]


def test_watching_a_pipeline_run_live(server, page):
    db, url = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(url)
    expect(page.locator("#arena-empty")).to_be_visible()

    run = arena(db, "run", str(MANIFEST), stdout=subprocess.DEVNULL)
    try:
        row = page.locator("#arena-rows tr").first
        expect(row).to_contain_text(GOAL)
        row.click()
        expect(page.locator("#goal")).to_have_text(GOAL)
        expect(page.locator("#conn")).to_have_text("live")

        # Watch: the progress, the timeline and the stages move while the run works.
        steps_seen, counts_seen, working_seen, shot = set(), [], set(), False
        deadline = time.monotonic() + 120
        while page.locator("#status").text_content() != "archived":
            assert time.monotonic() < deadline, "the run did not finish in time"
            steps_seen.add(page.locator("#steps-text").text_content())
            counts_seen.append(page.locator("#timeline li").count())
            for stage in page.locator("g.node.working").all():
                working_seen.add(stage.get_attribute("data-stage"))
            if "bob" in working_seen and not shot:
                page.screenshot(path=str(SHOTS / "console-live.png"), full_page=True)
                shot = True
            time.sleep(0.1)
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()

    assert len(steps_seen) >= 3, f"progress did not move live: {steps_seen}"
    assert counts_seen[0] < 31 and counts_seen == sorted(counts_seen), counts_seen
    assert {"ada", "bob"} <= working_seen, working_seen

    # The finished arena: every event, every stage done, the report and the verification.
    expect(page.locator("#timeline li")).to_have_count(31)
    expect(page.locator("#event-count")).to_have_text("(31)")
    expect(page.locator("#steps-text")).to_have_text("6 of 6 steps")
    expect(page.locator("g.node.done")).to_have_count(4)
    expect(page.locator("#report-outcome")).to_have_text("completed")
    expect(page.locator("#verify-verdict")).to_contain_text("31 events: hash chain intact")
    expect(page.locator("#facts tr")).to_have_count(3)
    expect(page.locator("#people tr")).to_have_count(5)
    expect(page.locator("#people")).to_contain_text("coordinate")
    expect(page.locator("#result h2").first).to_have_text("The field guide, merged")

    # An artifact's content, as its author wrote it.
    page.locator('button[data-artifact="art-10"]').click()
    dialog = page.locator("#artifact-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#artifact-title")).to_have_text("art-10 · text by ada")
    expect(page.locator("#artifact-content")).to_contain_text("Section 1 of")
    page.screenshot(path=str(SHOTS / "console-artifact.png"))
    dialog.locator("form button").click()
    expect(dialog).to_be_hidden()

    # Back in time: right after activation nothing is done yet ...
    page.locator("#slider").fill("7")
    expect(page.locator("#time-text")).to_have_text("as it was after event 7")
    expect(page.locator("#status")).to_have_text("active")
    expect(page.locator("#steps-text")).to_have_text("0 of 6 steps")
    expect(page.locator('g.node[data-stage="ada"]')).to_have_class(re.compile(r"\bwaiting\b"))
    expect(page.locator("#facts-empty")).to_be_visible()
    expect(page.locator("#report")).to_contain_text("Produced when the arena is archived")
    # ... after event 16 ada's stage is done and bob's waits ...
    page.locator("#slider").fill("16")
    expect(page.locator("#steps-text")).to_have_text("3 of 6 steps")
    expect(page.locator('g.node[data-stage="ada"]')).to_have_class(re.compile(r"\bdone\b"))
    expect(page.locator('g.node[data-stage="bob"]')).to_have_class(re.compile(r"\bwaiting\b"))
    expect(page.locator("#facts tr")).to_have_count(1)
    expect(page.locator('button[data-artifact="art-19"]')).to_have_count(0)
    page.screenshot(path=str(SHOTS / "console-rewound.png"), full_page=True)
    # ... and live again shows it archived.
    page.locator("#live").click()
    expect(page.locator("#status")).to_have_text("archived")
    expect(page.locator("#time-text")).to_have_text("live · event 31")
    page.screenshot(path=str(SHOTS / "console-archived.png"), full_page=True)


def test_a_finished_arena_opened_by_its_address_shows_its_stages_done_and_every_event(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#timeline li")).to_have_count(31)
    expect(page.locator("#event-count")).to_have_text("(31)")
    expect(page.locator("g.node.done")).to_have_count(4)
    expect(page.locator("g.node.waiting")).to_have_count(0)
    expect(page.locator('.slot[data-agent="ada"] .slot-status')).to_have_text("done")


def test_an_archived_arena_opens_on_its_merged_result_with_its_sources_linked(finished, page):
    s, arena_id = finished
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{s.url}#/arenas/{arena_id}")
    card = page.locator("#result-card")
    expect(card).to_be_visible()
    # The result comes before the rest of the arena.
    assert card.bounding_box()["y"] < page.locator("#pipeline").bounding_box()["y"]
    # Its Markdown is rendered: headings are headings, not "#" characters.
    expect(page.locator("#result h2")).to_have_text("The field guide, merged")
    expect(page.locator("#result h3").first).to_contain_text("art-10 by ada")
    expect(page.locator("#result")).not_to_contain_text("## ")
    merged = json.loads(arena_ok(s.db, "--json", "artifacts", arena_id, "--agent", "lead"))["artifacts"][-1]
    expect(page.locator("#result-meta")).to_contain_text(f"{merged['id']} by lead")
    links = page.locator("#result-meta a.source")
    expect(links).to_have_count(len(merged["sources"]))
    assert links.all_text_contents() == merged["sources"]
    # The settle report names the same result and ends at the head `arena head` prints.
    expect(page.locator("#report-result")).to_have_text(merged["id"])
    head = json.loads(arena_ok(s.db, "--json", "head", arena_id))
    expect(page.locator("#report-head")).to_have_text(f"{head['seq']}:{head['hash']}")
    page.screenshot(path=str(SHOTS / "console-result.png"), full_page=True)

    # A source opens in the artifact view, whose address survives a reload.
    links.first.click()
    expect(page.locator("#artifact-dialog")).to_be_visible()
    expect(page.locator("#artifact-title")).to_have_text(f"{merged['sources'][0]} · text by ada")
    expect(page).to_have_url(re.compile(f"#/arenas/{arena_id}/artifacts/{merged['sources'][0]}$"))
    page.reload()
    expect(page.locator("#artifact-dialog")).to_be_visible()
    expect(page.locator("#artifact-title")).to_have_text(f"{merged['sources'][0]} · text by ada")

    # Downloaded, it is the content as written.
    with page.expect_download() as download:
        page.locator("#artifact-download").click()
    path = download.value.path()
    assert download.value.suggested_filename == f"{arena_id}-{merged['sources'][0]}.txt"
    source = json.loads(arena_ok(s.db, "--json", "artifacts", arena_id, "--agent", "ada"))["artifacts"][0]
    assert Path(path).read_text() == source["content"]
    page.keyboard.press("Escape")
    expect(page.locator("#artifact-dialog")).to_be_hidden()
    expect(page).to_have_url(re.compile(f"#/arenas/{arena_id}$"))


def test_pipeline_edges_cross_no_box_and_long_names_leave_the_state_readable(server, page):
    db, url = server
    long_a = "an-agent-with-a-really-long-name-that-drafts"
    long_b = "another-agent-whose-name-goes-on-and-on"
    arena_id = arena_ok(
        db, "create", "--goal", "Edges and names", "--steps", "3", "--strategy", "pipeline",
        "--participant", "lead:coordinator", "--participant", f"{long_a}:worker",
        "--participant", "bob:worker", "--participant", f"{long_b}:worker",
        "--stage", f"{long_a}:1", "--stage", f"bob:2:{long_a}", "--stage", f"{long_b}:3:{long_a},bob")
    page.goto(f"{url}#/arenas/{arena_id}")
    expect(page.locator("g.node")).to_have_count(4)
    # ada→cy skips bob's column: no edge may pass through a box other than its own two ends.
    crossings = page.evaluate("""() => {
        const boxes = [...document.querySelectorAll('#pipeline g.node')].map(g => {
          const r = g.querySelector('rect').getBoundingClientRect();
          return {key: g.dataset.stage, r};
        });
        const found = [];
        for (const path of document.querySelectorAll('#pipeline path.edge')) {
          const m = path.getScreenCTM();
          const length = path.getTotalLength();
          for (let i = 0; i <= 200; i++) {
            const p = path.getPointAtLength(length * i / 200).matrixTransform(m);
            for (const {key, r} of boxes) {
              if (key === path.dataset.from || key === path.dataset.to) continue;
              if (p.x > r.left + 1 && p.x < r.right - 1 && p.y > r.top + 1 && p.y < r.bottom - 1)
                found.push(`${path.dataset.from}→${path.dataset.to} through ${key}`);
            }
          }
        }
        return [...new Set(found)];
    }""")
    assert page.locator("#pipeline path.edge").count() == 4
    assert crossings == [], crossings
    # A long name is cut short of the state label, which stays whole.
    for stage in (long_a, long_b):
        # Read at once: the graph is redrawn as the arena refreshes.
        title, state, texts = page.evaluate("""stage => {
            const g = document.querySelector(`g.node[data-stage="${stage}"]`);
            const [t, s] = ['.node-title', '.node-state'].map(c => g.querySelector(c));
            return [t.getBoundingClientRect().toJSON(), s.getBoundingClientRect().toJSON(), [t.textContent, s.textContent]];
        }""", stage)
        assert title["right"] <= state["left"], (stage, title, state)
        assert texts[1] == "waiting", texts
        assert texts[0].endswith("…") and stage.startswith(texts[0][:-1]), texts


def test_the_slider_filters_slots_steps_by_keyboard_and_takes_a_typed_event(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#timeline li")).to_have_count(31)
    page.locator("#seq-input").fill("16")
    page.locator("#seq-input").press("Enter")
    expect(page.locator("#time-text")).to_have_text("as it was after event 16")
    # After event 16: ada has her three drafts and is done; bob and the coordinator hold nothing yet.
    expect(page.locator('.slot[data-agent="ada"] .slot-status')).to_have_text("done")
    expect(page.locator('.slot[data-agent="ada"] button.artifact')).to_have_count(3)
    expect(page.locator('.slot[data-agent="bob"] .slot-status')).to_have_text("idle")
    expect(page.locator('.slot[data-agent="bob"] button.artifact')).to_have_count(0)
    expect(page.locator('.slot[data-agent="lead"] button.artifact')).to_have_count(0)
    expect(page.locator("#timeline li.current")).to_have_attribute("data-seq", "16")

    # The arrow keys step one event, Shift ten, Home and End go to either end.
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#time-text")).to_have_text("as it was after event 15")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#time-text")).to_have_text("as it was after event 25")
    page.keyboard.press("Home")
    expect(page.locator("#time-text")).to_have_text("as it was after event 1")
    expect(page.locator(".slot button.artifact")).to_have_count(0)

    # The time is in the address, and survives a reload.
    page.locator("#seq-input").fill("12")
    page.locator("#seq-input").press("Enter")
    expect(page.locator("#time-text")).to_have_text("as it was after event 12")
    expect(page).to_have_url(re.compile(re.escape(f"#/arenas/{arena_id}?at=12") + "$"))
    page.reload()
    expect(page.locator("#time-text")).to_have_text("as it was after event 12")
    expect(page.locator("#slider")).to_have_value("12")
    expect(page.locator("#timeline li.current")).to_have_attribute("data-seq", "12")
    page.keyboard.press("End")
    expect(page.locator("#time-text")).to_have_text("live · event 31")
    expect(page).to_have_url(re.compile(f"#/arenas/{arena_id}$"))


def test_the_timeline_filters_by_agent_and_kind_and_shows_any_event_as_raw_json(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#timeline li")).to_have_count(31)
    page.locator("#filter-actor").select_option("ada")
    rows = page.locator("#timeline li")
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.actor)")) == {"ada"}
    ada = rows.count()
    assert 0 < ada < 31
    expect(page.locator("#event-count")).to_have_text(f"({ada} of 31)")
    page.locator("#filter-kind").select_option("artifact-put")
    expect(rows).to_have_count(3)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.kind)")) == {"artifact-put"}
    page.locator("#filter-actor").select_option("")
    page.locator("#filter-kind").select_option("fact-added")
    expect(rows).to_have_count(3)

    page.locator("#filter-kind").select_option("")
    page.locator('#timeline li[data-seq="10"] button.raw').click()
    expect(page.locator("#raw-dialog")).to_be_visible()
    raw = json.loads(page.locator("#raw-content").text_content())
    expected = json.loads(arena_ok(s.db, "--json", "events", arena_id, "--after", "9", "--limit", "1"))
    assert raw == expected, (raw, expected)
    assert raw["seq"] == 10 and raw["kind"] == "artifact-put"


def test_an_unknown_arena_id_says_so_and_leaves_nothing_of_the_previous_arena(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#goal")).to_have_text(GOAL)
    unknown = "01934b5e-0000-7000-8000-000000000000"
    for missing, why in ((unknown, "not found"), ("no-such-arena", "not a canonical lowercase UUID")):
        page.evaluate(f"location.hash = '#/arenas/{missing}'")
        expect(page.locator("#arena-missing")).to_be_visible()
        expect(page.locator("#missing-id")).to_have_text(missing)
        expect(page.locator("#missing-why")).to_contain_text(why)
        expect(page.locator("#arena-content")).to_be_hidden()
        expect(page.locator("#conn")).to_have_text("no such arena")
        time.sleep(3)
        expect(page.locator("#conn")).to_have_text("no such arena")
        expect(page.get_by_text(GOAL).filter(visible=True)).to_have_count(0)
        expect(page.locator("#error")).to_be_hidden()
    # Back to a real arena, everything is there again.
    page.evaluate(f"location.hash = '#/arenas/{arena_id}'")
    expect(page.locator("#goal")).to_have_text(GOAL)
    expect(page.locator("#arena-missing")).to_be_hidden()


def test_an_aborted_arena_has_its_own_badge_not_the_green_archived(server, page):
    db, url = server
    arena_id = arena_ok(db, "create", "--goal", "Doomed", "--steps", "2",
                        "--participant", "lead:coordinator", "--participant", "w:worker")
    arena_ok(db, "abort", arena_id, "--reason", "the budget ran out", "--as", "lead")
    page.goto(url)
    badge = page.locator(f'#arena-rows tr[data-id="{arena_id}"] .pill')
    expect(badge).to_have_text("aborted")
    expect(badge).to_have_attribute("data-status", "aborted")
    page.goto(f"{url}#/arenas/{arena_id}")
    expect(page.locator("#status")).to_have_text("aborted")
    expect(page.locator("#outcome")).to_contain_text("the budget ran out")
    red, green, blue = map(int, re.findall(r"\d+", page.locator("#status").evaluate("e => getComputedStyle(e).color"))[:3])
    assert red > green, (red, green, blue)


def test_paging_to_arena_150_keeps_the_rows_and_search_finds_it_by_goal(server, page):
    db, url = server
    start = time.monotonic()
    # One after the other, so that they list in this order.
    for i in range(1, 151):
        arena_ok(db, "create", "--goal", f"Arena number {i:03}", "--steps", "1", "--participant", "lead:coordinator")
    print(f"created 150 arenas in {time.monotonic() - start:.1f} s")

    page.goto(url)
    expect(page.locator("#arena-rows tr")).to_have_count(100)
    page.locator("#arena-more").click()
    expect(page.locator("#arena-rows tr")).to_have_count(150)
    expect(page.locator("#arena-more")).to_be_hidden()
    # Past two reloads of the list, arena 150 is still there to be clicked.
    time.sleep(4.5)
    expect(page.locator("#arena-rows tr")).to_have_count(150)
    last = page.locator("#arena-rows tr").nth(149)
    expect(last).to_contain_text("Arena number 150")
    last.click()
    expect(page.locator("#goal")).to_have_text("Arena number 150")

    # Search by goal: the server filters, across pages.
    answer = page.request.get(f"{url}api/arenas?goal=NUMBER%20137").json()
    assert [a["goal"] for a in answer["arenas"]] == ["Arena number 137"]
    page.goto(url)
    page.locator("#filter-goal").fill("number 14")
    expect(page.locator("#arena-rows tr")).to_have_count(10)  # 140 to 149
    page.locator("#filter-goal").fill("no arena has this goal")
    expect(page.locator("#arena-rows tr")).to_have_count(0)
    expect(page.locator("#arena-empty")).to_be_visible()


def test_a_long_arena_reaches_its_early_events_and_peers_who_worked_are_not_waiting(server, page, tmp_path):
    db, url = server
    arena_id = run_to_end(db, PEERS, tmp_path)
    last = json.loads(arena_ok(db, "--json", "show", arena_id))["last-seq"]
    assert last > 600, last
    page.goto(f"{url}#/arenas/{arena_id}")
    expect(page.locator("#event-count")).to_have_text(f"({last})", timeout=60_000)
    for worker in ("wren", "finch"):
        expect(page.locator(f'g.node[data-stage="{worker}"]')).to_have_class(re.compile(r"\bdone\b"))
    page.locator("#seq-input").fill("3")
    page.locator("#seq-input").press("Enter")
    expect(page.locator("#timeline li.current")).to_have_attribute("data-seq", "3")
    expect(page.locator('#timeline li[data-seq="1"]')).to_have_count(1)
    expect(page.locator("#timeline li.current")).to_be_in_viewport()


def test_the_token_leaves_the_address_bar_once_the_cookie_holds_it(tmp_path, browser):
    s = Server(tmp_path / "arena.db", "--token", "s3cret-token")
    try:
        page = open_page(browser)
        page.goto(f"{s.url}?token=s3cret-token")
        expect(page.locator("#arena-empty")).to_be_visible()
        assert "token" not in page.url, page.url
        page.reload()
        expect(page.locator("#arena-empty")).to_be_visible()
        assert not page.errors, page.errors
        page.close()
    finally:
        s.stop()


def test_readable_at_420_pixels(finished, browser):
    s, arena_id = finished
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_page(browser, width=420, height=900)
    page.goto(s.url)
    expect(page.locator("#arena-rows tr")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the list is {width} px wide"
    expect(page.locator("#arena-rows tr .pill")).to_be_in_viewport()
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#timeline li")).to_have_count(31)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the arena is {width} px wide"
    # The graph keeps its own size (in a box that scrolls), so its names stay readable.
    expect(page.locator("g.node.done")).to_have_count(4)
    # Read at once: the graph is redrawn as the arena refreshes.
    title = page.evaluate("""() => document.querySelector('g.node[data-stage="ada"] .node-title')
        .getBoundingClientRect().toJSON()""")
    assert title["height"] >= 12, title
    page.screenshot(path=str(SHOTS / "console-narrow.png"), full_page=True)
    assert not page.errors, page.errors
    page.close()


def test_dark_mode_follows_the_system_setting(finished, browser):
    s, arena_id = finished
    SHOTS.mkdir(parents=True, exist_ok=True)
    background = "getComputedStyle(document.documentElement).backgroundColor"
    for scheme, dark in (("light", False), ("dark", True)):
        page = open_page(browser, color_scheme=scheme)
        page.goto(f"{s.url}#/arenas/{arena_id}")
        expect(page.locator("#result-card")).to_be_visible()
        rgb = [int(n) for n in re.findall(r"\d+", page.evaluate(background))[:3]]
        assert (sum(rgb) < 150) == dark, (scheme, rgb)
        expect(page.locator("g.node.done")).to_have_count(4)
        expect(page.locator("#verify-verdict")).to_be_visible()
        time.sleep(1)  # the newest rows' arrival highlight fades
        page.screenshot(path=str(SHOTS / f"console-{scheme}.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": 1360, "height": 1640})
        assert not page.errors, page.errors
        page.close()


def test_markdown_from_an_agent_is_rendered_without_its_html(server, page):
    db, url = server
    hostile = (
        "# Findings\n\n"
        "Plain **bold** and `code`.\n\n"
        '<img src="x" onerror="window.pwned = 1">\n\n'
        "<script>window.pwned = 2</script>\n\n"
        "[click me](javascript:window.pwned=3) and [a real link](https://example.org/)\n\n"
        "- one\n- two\n"
    )
    arena_id = arena_ok(db, "create", "--goal", "Hostile text", "--steps", "1",
                        "--participant", "lead:coordinator", "--participant", "w:worker")
    arena_ok(db, "activate", arena_id, "--as", "lead")
    put = json.loads(arena_ok(db, "--json", "put", arena_id, "--kind", "markdown", "--content", hostile, "--as", "w"))
    arena_ok(db, "settle", arena_id, "--as", "lead")
    arena_ok(db, "merge", arena_id, "--from", put["id"], "--content", hostile, "--as", "lead")
    arena_ok(db, "archive", arena_id, "--as", "lead")
    page.goto(f"{url}#/arenas/{arena_id}")
    result = page.locator("#result")
    expect(result.locator("h2")).to_have_text("Findings")
    expect(result.locator("strong")).to_have_text("bold")
    expect(result.locator("li")).to_have_count(2)
    expect(result).to_contain_text('<img src="x" onerror="window.pwned = 1">')
    expect(result).to_contain_text("<script>window.pwned = 2</script>")
    assert result.locator("img, script, iframe").count() == 0
    hrefs = result.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.org/"], hrefs
    assert page.evaluate("window.pwned") is None
    # The worker's artifact, opened, is Markdown too; its text is a click away.
    page.locator(f'button[data-artifact="{put["id"]}"]').click()
    expect(page.locator("#artifact-content h2")).to_have_text("Findings")
    page.locator('#artifact-formats button[data-format="text"]').click()
    expect(page.locator("#artifact-content pre")).to_have_text(hostile)


def test_each_stage_shows_how_long_it_took(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#timeline li")).to_have_count(31)
    took = re.compile(r"^\d+(\.\d)? (ms|s)$|^\d+ min \d\d s$")
    for stage in ("ada", "bob", "cy", "·settle"):
        node = page.locator(f'g.node[data-stage="{stage}"]')
        expect(node).to_have_attribute("data-took", took)
        expect(node.locator(".node-sub")).to_contain_text(" · ")
    # Every line stays inside its box.
    outside = page.evaluate("""() => [...document.querySelectorAll('#pipeline g.node')].flatMap(g => {
        const box = g.querySelector('rect').getBoundingClientRect();
        return [...g.querySelectorAll('text')].filter(t => t.getBoundingClientRect().right > box.right)
          .map(t => `${g.dataset.stage}: ${t.textContent}`);
    })""")
    assert outside == [], outside
    # Rewound to where bob works, his stage is still running and cy's has not begun.
    page.locator("#seq-input").fill("20")
    page.locator("#seq-input").press("Enter")
    expect(page.locator('g.node[data-stage="bob"]')).to_have_attribute("data-took", re.compile("so far$"))
    expect(page.locator('g.node[data-stage="cy"]')).to_have_attribute("data-took", "")


def test_a_merge_is_diffed_against_its_sources(finished, page):
    s, arena_id = finished
    merged = json.loads(arena_ok(s.db, "--json", "artifacts", arena_id, "--agent", "lead"))["artifacts"][-1]
    page.goto(f"{s.url}#/arenas/{arena_id}/artifacts/{merged['id']}")
    expect(page.locator("#artifact-dialog")).to_be_visible()
    page.locator('#artifact-formats button[data-format="diff"]').click()
    lines = page.locator(".diff-lines li")
    expect(lines.first).to_be_visible()
    ops = lines.evaluate_all("ls => ls.map(l => l.dataset.op)")
    texts = lines.locator(".diff-text").all_text_contents()
    # Every source line is kept, in order; the merge added its headings and blank lines.
    kept = [t for op, t in zip(ops, texts) if op == " "]
    sources = [json.loads(arena_ok(s.db, "--json", "artifacts", arena_id, "--agent", a))["artifacts"] for a in ("ada", "bob", "cy")]
    contents = [art["content"] for arts in sources for art in arts]
    assert kept == [line for c in contents for line in c.split("\n")], kept
    assert "-" not in ops
    added = [t for op, t in zip(ops, texts) if op == "+"]
    assert "# The field guide, merged" in added and "## art-10 by ada" in added, added
    expect(page.locator(".diff-summary")).to_contain_text(f"{len(kept)} lines kept, {len(added)} added by the merge, 0 left out")
    expect(page.locator(".diff-lines li.same .diff-from").first).to_have_text("art-10")


def test_facts_across_arenas_are_found_by_tag_and_text(server, page):
    db, url = server
    ids = []
    for goal in ("Survey the reef", "Survey the lagoon"):
        arena_id = arena_ok(db, "create", "--goal", goal, "--steps", "1",
                            "--participant", "lead:coordinator", "--participant", "w:worker")
        arena_ok(db, "activate", arena_id, "--as", "lead")
        ids.append(arena_id)
    arena_ok(db, "fact", ids[0], "--content", "Parrotfish graze the reef at noon", "--confidence", "0.8",
             "--tag", "fish", "--tag", "reef", "--as", "w")
    arena_ok(db, "fact", ids[1], "--content", "Mullet school in the lagoon at dusk", "--confidence", "0.6",
             "--tag", "fish", "--as", "w")
    arena_ok(db, "fact", ids[1], "--content", "The lagoon's water is brackish", "--confidence", "0.9",
             "--tag", "water", "--as", "w")

    page.goto(url)
    page.locator("#nav-facts").click()
    expect(page.locator("#all-facts-empty")).to_contain_text("Facts are found by tag")
    page.locator("#facts-tag").fill("fish")
    page.locator("#facts-tag").press("Enter")
    rows = page.locator("#all-facts tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Survey the reef")
    expect(rows.nth(1)).to_contain_text("Survey the lagoon")
    expect(page).to_have_url(re.compile(re.escape("#/facts?tag=fish") + "$"))
    page.locator("#facts-text").fill("DUSK")
    page.locator("#facts-text").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Mullet school")
    # A tag chip finds the facts carrying it; the arena link opens the arena at the fact's event.
    page.goto(f"{url}#/facts?tag=reef")
    expect(rows).to_have_count(1)
    rows.first.locator('a.chip[data-tag="fish"]').click()
    expect(rows).to_have_count(2)
    rows.nth(1).locator("td").last.locator("a").click()
    expect(page.locator("#goal")).to_have_text("Survey the lagoon")
    expect(page.locator("#time-text")).to_have_text("as it was after event 5")


def test_facts_and_artifacts_of_an_arena_are_searched_by_their_text(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}")
    expect(page.locator("#facts tr")).to_have_count(3)
    page.locator("#fact-search").fill("north bank")
    expect(page.locator("#facts tr")).to_have_count(1)
    expect(page.locator("#facts tr")).to_contain_text("Herons feed")
    page.locator("#fact-search").fill("TIDES")  # a tag
    expect(page.locator("#facts tr")).to_have_count(2)
    page.locator("#fact-search").fill("nothing says this")
    expect(page.locator("#facts tr")).to_have_count(0)
    expect(page.locator("#facts-empty")).to_have_text("No fact matches the search.")

    page.locator("#artifact-search").fill("south bank")
    # art-12 holds it, and so does the merge that quotes it.
    expect(page.locator("#slots button.artifact")).to_have_count(2)
    assert sorted(page.locator("#slots button.artifact").evaluate_all("bs => bs.map(b => b.dataset.artifact)")) == ["art-12", "art-30"]
    page.locator("#artifact-search").fill("")
    expect(page.locator("#slots button.artifact")).to_have_count(7)


def test_the_arena_between_two_times_names_the_steps_slots_artifacts_and_facts_that_changed(finished, page):
    s, arena_id = finished
    page.goto(f"{s.url}#/arenas/{arena_id}?at=16&from=7")
    card = page.locator("#changes-card")
    expect(card).to_be_visible()
    expect(page.locator("#changes-title")).to_have_text("Changes from event 7 to event 16")
    group = lambda name: page.locator(f'.change-group[data-group="{name}"] li')  # noqa: E731
    expect(group("steps")).to_have_count(3)
    assert [t.split(" #")[0] for t in group("steps").all_text_contents()] == [
        "step 1 by ada", "step 2 by ada", "step 3 by ada"]
    expect(group("slots")).to_have_text(["ada: idle → done"])
    assert group("artifacts").locator("a.source").all_text_contents() == ["art-10", "art-12", "art-14"]
    expect(group("facts")).to_have_count(1)
    expect(group("facts")).to_contain_text("Herons feed")
    # The comparison is in the address, and survives a reload.
    page.reload()
    expect(page.locator("#changes-title")).to_have_text("Changes from event 7 to event 16")
    # From the end of ada's stage to the end: bob's and cy's work, the merge, and the settling.
    page.keyboard.press("End")
    page.locator("#compare-from").fill("16")
    page.locator("#compare-from").press("Enter")
    expect(page.locator("#changes-title")).to_have_text("Changes from event 16 to event 31")
    expect(page).to_have_url(re.compile(re.escape(f"#/arenas/{arena_id}?from=16") + "$"))
    expect(group("steps")).to_have_count(3)
    expect(group("slots")).to_have_text(["bob: idle → done", "cy: idle → done"])
    expect(group("artifacts")).to_have_count(4)
    expect(group("artifacts").last).to_contain_text("merged from art-10")
    expect(group("arena")).to_have_count(2)
    page.locator("#compare-clear").click()
    expect(card).to_be_hidden()
    expect(page).to_have_url(re.compile(f"#/arenas/{arena_id}$"))
