"""Forking from the console's time slider, in a real browser: a person holding the coordinator's
agent token forks the arena at the event the slider shows, the fork opens, and it verifies against
its parent, in the page and with `arena verify`.
"""

import json
import re

import pytest
from playwright.sync_api import expect

# The fixtures (`server`, `browser`) and helpers are the console suite's own.
from test_console import arena_ok, browser, open_page, server  # noqa: F401


@pytest.fixture
def page(browser):  # noqa: F811
    """The console suite's page, which also allows the 403 a refused fork answers on purpose."""
    page = open_page(browser)
    yield page
    errors = [e for e in page.errors if not re.search(r"status of 403", e)]
    page.close()
    assert not errors, f"the page threw: {errors}"


def worked_arena(db):
    """An active arena (lead, wendy; 3 steps) in which wendy completed steps 1 and 2 (events 5 and 6)."""
    arena_id = arena_ok(db, "create", "--goal", "Chart the river mouth", "--steps", "3",
                        "--participant", "lead:coordinator", "--participant", "wendy:worker")
    arena_ok(db, "activate", arena_id, "--as", "lead")
    arena_ok(db, "step", arena_id, "1", "--as", "wendy")
    arena_ok(db, "step", arena_id, "2", "--as", "wendy")
    return arena_id


def arena_ids(db):
    return [json.loads(line)["id"] for line in arena_ok(db, "--json", "list").splitlines()]


def test_a_fork_made_from_the_slider_opens_with_the_state_at_that_event_and_verifies(server, page):
    db, url = server
    parent = worked_arena(db)
    token = arena_ok(db, "token", "issue", parent, "lead")
    page.goto(f"{url}#/arenas/{parent}")
    expect(page.locator("#steps-text")).to_have_text("2 of 3 steps")
    page.locator("#seq-input").fill("5")
    page.locator("#seq-input").press("Enter")
    expect(page.locator("#time-text")).to_have_text("as it was after event 5")

    page.locator("#fork-token").fill(token)
    page.locator("#fork").click()

    expect(page).not_to_have_url(f"{url}#/arenas/{parent}?at=5")
    expect(page.locator("#fork-origin")).to_have_text(f"Forked from {parent} at event 5")
    fork = page.locator("#arena-id").text_content()
    assert fork != parent
    assert page.url.endswith(f"#/arenas/{fork}")
    # The fork has the parent's state after event 5: step 1 done, step 2 not.
    expect(page.locator("#steps-text")).to_have_text("1 of 3 steps")
    expect(page.locator("#status")).to_have_text("active")
    expect(page.locator("#timeline li").first).to_contain_text(f"forked this arena from {parent} at event 5")

    page.locator("#verify-again").click()
    expect(page.locator("#verify-verdict")).to_have_text(
        "✓ 6 events: hash chain intact, replay matches the stored state")
    assert "ok: 6 events" in arena_ok(db, "verify", fork)
    # The link back opens the parent at the event the fork was taken after.
    page.locator("#fork-parent").click()
    expect(page.locator("#arena-id")).to_have_text(parent)
    expect(page.locator("#time-text")).to_have_text("as it was after event 5")
    assert sorted(arena_ids(db)) == sorted([parent, fork])


def test_forking_without_the_coordinators_token_is_refused_in_the_page_and_writes_nothing(server, page):
    db, url = server
    parent = worked_arena(db)
    worker = arena_ok(db, "token", "issue", parent, "wendy")
    page.goto(f"{url}#/arenas/{parent}")
    expect(page.locator("#steps-text")).to_have_text("2 of 3 steps")

    page.locator("#fork").click()
    expect(page.locator("#fork-status")).to_have_text(
        "Forking needs an agent token of this arena's coordinator (arena token issue).")

    page.locator("#fork-token").fill(worker)
    page.locator("#fork").click()
    expect(page.locator("#fork-status")).to_contain_text("Not forked:")
    expect(page.locator("#fork-status")).to_contain_text("coordinate")
    expect(page.locator("#arena-id")).to_have_text(parent)
    assert arena_ids(db) == [parent]
