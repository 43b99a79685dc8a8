"""The console in a real browser: headless Chromium from the system packages, driven by Playwright.

It starts `arena serve` on a free port over a new database, opens the page, starts an `arena run`
of the sample pipeline (paced, so it can be watched), and checks what a person would see: the
arena appearing, its progress and timeline moving live, the pipeline's stages lighting up, an
artifact's content, the settle report and verification, and the time slider rewinding the arena.
"""

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
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / "target" / "browser"))


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no chromium: install the system package (apt-get install chromium)")
    return found


def arena(db, *args, **kwargs):
    env = dict(os.environ, ARENA_CACHE_DIR=str(ROOT / "target" / "browser" / "component-cache"))
    env.pop("ARENA_SERVE_TOKEN", None)
    return subprocess.Popen([str(ARENA), "--db", str(db), *args], env=env, **kwargs)


@pytest.fixture
def server(tmp_path):
    if not ARENA.exists():
        pytest.fail(f"{ARENA} is missing: build it first (cargo build)")
    db = tmp_path / "arena.db"
    proc = arena(db, "serve", "--addr", "127.0.0.1:0", stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.match(r"serving (http://\S+/)", line)
    assert match, f"unexpected first line from arena serve: {line!r}"
    yield db, match.group(1)
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1360, "height": 1100})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # A refused style or script (the page's content security policy) is only a console error.
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page
        browser.close()
        assert not errors, f"the page threw: {errors}"


def test_watching_a_pipeline_run_live(server, page):
    db, url = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(url)
    expect(page.locator("#arena-empty")).to_be_visible()

    run = arena(db, "run", str(MANIFEST), stdout=subprocess.DEVNULL)
    try:
        row = page.locator("#arena-rows tr").first
        expect(row).to_contain_text("Write a field guide to the birds of the river delta")
        row.click()
        expect(page.locator("#goal")).to_have_text("Write a field guide to the birds of the river delta")
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
    expect(page.locator("#steps-text")).to_have_text("6 of 6 steps")
    expect(page.locator("g.node.done")).to_have_count(4)
    expect(page.locator("#report-outcome")).to_have_text("completed")
    expect(page.locator("#verify-verdict")).to_contain_text("31 events: hash chain intact")
    expect(page.locator("#facts tr")).to_have_count(3)
    expect(page.locator("#people tr")).to_have_count(5)
    expect(page.locator("#people")).to_contain_text("coordinate")

    # An artifact's content, as its author wrote it.
    page.locator('button[data-artifact="art-10"]').click()
    dialog = page.locator("#artifact-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#artifact-title")).to_have_text("art-10 · text by ada")
    expect(page.locator("#artifact-content")).to_contain_text("Section 1 of")
    page.screenshot(path=str(SHOTS / "console-artifact.png"))
    dialog.locator("button").click()
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
