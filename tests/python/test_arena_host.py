"""The arena component, hosted by Python: wasmtime-py, with storage on sqlite3."""

import sqlite3

import pytest

from arena_host import Arena, ArenaError, Err, SqliteStorage, record
from wasmtime.component import Variant


def spec(agent, role):
    return record(agent=agent, role=role, permissions=None)


def create(arena, steps=4):
    return arena.call(
        "create",
        record(
            goal="map the coastline",
            total_steps=steps,
            strategy="lead",  # wasmtime-py passes a variant whose cases are all distinct types untagged
            participants=[spec("lead", "coordinator"), spec("wendy", "worker"), spec("otto", "observer")],
            created_by="python",
        ),
    )


def test_a_full_lifecycle_with_refusals(tmp_path):
    arena = Arena(tmp_path / "arena.db")
    aid = create(arena)
    assert len(aid) == 36
    with pytest.raises(ArenaError) as refused:
        arena.call("settle", aid, "lead")
    assert refused.value.tag == "invalid-transition"
    assert (getattr(refused.value.payload, "from"), refused.value.payload.to) == ("created", "settling")
    assert arena.call("activate", aid, "lead") == "active"
    with pytest.raises(ArenaError) as denied:
        arena.call("complete-step", aid, "otto", 1)
    assert (denied.value.tag, denied.value.payload) == ("permission-denied", "contribute")
    for step in range(1, 5):
        aggregate = arena.call("complete-step", aid, "wendy", step)
    assert getattr(aggregate, "completed-steps") == 4
    with pytest.raises(ArenaError) as again:
        arena.call("complete-step", aid, "wendy", 4)
    assert again.value.tag == "already-done"
    assert arena.call("settle", aid, "lead") == "settling"
    assert arena.call("archive", aid, "lead") == "archived"
    info = arena.call("get", aid)
    assert info.status == "archived"
    # option<outcome>: `some(completed)` — wasmtime-py tags the option (both cases carry no Python value)
    # and passes the payload-less `completed` as None.
    assert info.outcome == Variant("some", None)
    events = arena.call("events", aid, 0, 100)
    kinds = [e.kind for e in events]
    assert kinds[:4] == ["arena-created", "agent-joined", "agent-joined", "agent-joined"]
    assert kinds[-2:] == ["arena-settling", "arena-archived"]
    # The settle report: no merge, so no result; it ends at the archiving event.
    report = info.report
    assert report.result is None
    assert (getattr(report, "head-seq"), getattr(report, "head-hash")) == (events[-1].seq, events[-1].hash)
    assert arena.call("verify", aid).problem is None


def test_a_conflicting_writer_makes_the_component_retry(tmp_path):
    path = tmp_path / "shared.db"
    first, second = Arena(path), Arena(path)
    aid = create(first)
    first.call("activate", aid, "lead")
    # Between first's read and its append, the second instance commits another step.
    first.storage.before_append = lambda: second.call("complete-step", aid, "wendy", 2)
    aggregate = first.call("complete-step", aid, "wendy", 1)
    assert getattr(aggregate, "completed-steps") == 2
    seqs = [e.seq for e in first.call("events", aid, 0, 100)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert first.call("verify", aid).problem is None


def test_a_second_instance_sees_the_persisted_state(tmp_path):
    path = tmp_path / "arena.db"
    writer = Arena(path)
    aid = create(writer)
    writer.call("activate", aid, "lead")
    writer.call("complete-step", aid, "wendy", 3)
    before = writer.call("get", aid)
    reader = Arena(path)
    after = reader.call("get", aid)
    assert (after.status, getattr(after, "last-seq")) == (before.status, getattr(before, "last-seq"))
    assert getattr(after.aggregate, "completed-steps") == 1
    assert reader.call("active-arenas-for", "wendy") == [aid]
    assert reader.call("verify", aid).problem is None


def test_facts_are_found_across_arenas_by_tag_after_archiving(tmp_path):
    arena = Arena(tmp_path / "arena.db")
    ids = [create(arena, steps=1), create(arena, steps=1)]
    for aid in ids:
        arena.call("activate", aid, "lead")
    draft = arena.call("put-artifact", ids[0], "wendy", record(kind="text", content="a draft", metadata=[]))
    assert (draft.author, draft.id) == ("wendy", f"art-{draft.seq}")
    with pytest.raises(ArenaError) as refused:
        arena.call("add-fact", ids[0], "wendy", record(content="x", confidence=1.1, tags=[]))
    assert refused.value.tag == "invalid-input"
    arena.call("add-fact", ids[0], "wendy", record(content="Herons at dawn", confidence=0.5, tags=["birds"]))
    arena.call("add-fact", ids[1], "lead", record(content="Gulls at noon", confidence=1.0, tags=["birds"]))
    arena.call("abort", ids[0], "lead", "called off")
    found = arena.call("query-facts", None, record(tag="birds", text=None), None, 10)
    assert sorted((f.arena, f.source) for f in found) == sorted([(ids[0], "wendy"), (ids[1], "lead")])
    assert arena.call("verify", ids[0]).problem is None


def test_an_exception_in_storage_is_a_storage_error_and_the_instance_carries_on(tmp_path):
    arena = Arena(tmp_path / "arena.db")
    aid = create(arena)

    def disk_full():
        raise sqlite3.OperationalError("database or disk is full")

    arena.storage.before_append = disk_full
    with pytest.raises(ArenaError) as failed:
        arena.call("activate", aid, "lead")
    assert (failed.value.tag, failed.value.payload) == ("storage", "OperationalError: database or disk is full")
    assert arena.call("activate", aid, "lead") == "active"

    cold = Arena(tmp_path / "arena.db")
    cold.storage.db.close()  # every read (`head` first) now raises
    with pytest.raises(ArenaError) as unreadable:
        cold.call("get", aid)
    assert unreadable.value.tag == "storage"
    assert unreadable.value.payload.startswith("ProgrammingError: ")
    cold.storage.db = sqlite3.connect(tmp_path / "arena.db", isolation_level=None)
    assert cold.call("get", aid).status == "active"


def test_a_storage_value_of_the_wrong_type_is_a_storage_error_and_the_instance_carries_on(tmp_path, monkeypatch):
    writer = Arena(tmp_path / "arena.db")
    aid = create(writer)
    writer.call("activate", aid, "lead")
    first = writer.call("events", aid, 0, 1)[0]
    wrong = {}  # callback name -> the value it returns instead of its own

    def mistyped(name):
        callback = getattr(SqliteStorage, name)
        return lambda self, *args: wrong[name] if name in wrong else callback(self, *args)

    for name in ("head", "read_events", "append", "list_arenas"):
        monkeypatch.setattr(SqliteStorage, name, mistyped(name))
    cold = Arena(tmp_path / "arena.db")
    cases = [
        ("read_events", "seq 1", "storage read-events returned a str where a list of events was expected"),
        ("head", 7, "storage head returned an int where a log-head record or None was expected"),
        ("head", record(seq=2), "storage head returned nothing at .hash where a str was expected"),
        (
            "read_events",
            [record(seq="1", at=first.at, actor=first.actor, kind=first.kind, payload=first.payload, hash=first.hash)],
            "storage read-events returned a str at [0].seq where a u64 (an int) was expected",
        ),
        ("list_arenas", [aid, 5], "storage list-arenas returned an int at [1] where a str was expected"),
        ("append", "done", "storage append returned a str where None was expected"),
    ]
    for name, value, message in cases:
        wrong[name] = value
        with pytest.raises(ArenaError) as failed:
            if name == "list_arenas":
                cold.call("list-arenas", None, 10)
            elif name == "append":
                cold.call("complete-step", aid, "wendy", 1)
            else:
                cold.call("get", aid)
        assert (failed.value.tag, failed.value.payload) == ("storage", message)
        del wrong[name]
    assert cold.call("get", aid).status == "active"
    assert getattr(cold.call("complete-step", aid, "wendy", 1), "completed-steps") == 1
    assert cold.call("verify", aid).problem is None


def test_a_storage_error_of_the_wrong_shape_is_a_storage_error_and_the_instance_carries_on(tmp_path, monkeypatch):
    answers = []  # what the next appends answer instead of appending
    append = SqliteStorage.append
    monkeypatch.setattr(
        SqliteStorage, "append", lambda self, *args: answers.pop(0) if answers else append(self, *args)
    )
    arena = Arena(tmp_path / "arena.db")
    aid = create(arena)
    cases = [
        (
            Err(Variant("full")),
            "storage append answered an error of 'full' at .tag where one of not-found, invalid-transition,"
            " invalid-state, permission-denied, invalid-input, limit-exceeded, already-done, conflict, storage"
            " was expected",
        ),
        (Variant("storage", 28), "storage append answered an error of an int at .payload where a str was expected"),
        (
            Variant("limit-exceeded", record(what="events", limit="10")),
            "storage append answered an error of a str at .payload.limit where a u64 (an int) was expected",
        ),
        (Err("disk full"), "storage append answered an error of a str where an arena-error Variant was expected"),
        (
            Variant("permission-denied", "admin"),
            "storage append answered an error of a str at .payload where a permission was expected",
        ),
    ]
    for answer, message in cases:
        answers.append(answer)
        with pytest.raises(ArenaError) as failed:
            arena.call("activate", aid, "lead")
        assert (failed.value.tag, failed.value.payload) == ("storage", message)
    answers.append(Variant("limit-exceeded", record(what="events", limit=10)))
    with pytest.raises(ArenaError) as limited:
        arena.call("activate", aid, "lead")
    assert limited.value.tag == "limit-exceeded"
    assert (limited.value.payload.what, limited.value.payload.limit) == ("events", 10)
    assert arena.call("activate", aid, "lead") == "active"
