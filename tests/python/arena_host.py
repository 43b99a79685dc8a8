"""A Python host for the SharedArena component: wasmtime-py, with `storage` on the standard library's
sqlite3. It honours the storage contract: one atomic append per operation, guarded by the arena's
expected last sequence number, refused with `conflict` when another writer got there first."""

import ctypes
import functools
import os
import sqlite3
from pathlib import Path

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, Variant
from wasmtime.component._types import ResultType

PACKAGE = "arena:core"
VERSION = "0.1.0"
ROOT = Path(__file__).resolve().parents[2]
COMPONENT = Path(
    os.environ.get(
        "ARENA_COMPONENT",
        ROOT / "target/wasm-guests/wasm32-wasip2/wasm-release/arena_component.wasm",
    )
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS arenas (id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (arena_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL,
                                      PRIMARY KEY (arena_id, seq));
CREATE TABLE IF NOT EXISTS events (arena_id TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL,
                                   actor TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
                                   hash TEXT NOT NULL, PRIMARY KEY (arena_id, seq));
CREATE TABLE IF NOT EXISTS members (agent TEXT NOT NULL, arena_id TEXT NOT NULL, PRIMARY KEY (agent, arena_id));
CREATE TABLE IF NOT EXISTS arena_tags (tag TEXT NOT NULL, arena_id TEXT NOT NULL, PRIMARY KEY (tag, arena_id));
"""


def record(**fields):
    """A WIT record value: attribute names are the WIT field names (kebab-case)."""
    value = Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


class Err:
    """The `err` case of a WIT `result`, named explicitly.

    wasmtime-py lowers a `result` whose cases hold different Python types untagged, matching the value
    against the `ok` case first; for `result<option<T>, E>` (`head`, `snapshot`) every value matches
    `ok`, since `none` is any object. A storage callback returns `Err(payload)` to answer the error."""

    def __init__(self, payload):
        self.payload = payload


def _lower_err_first(lower):
    @functools.wraps(lower)
    def lowered(self, store, val):
        if not isinstance(val, Err):
            return lower(self, store, val)
        raw = ffi_val()
        self.err.convert_to_c(store, val.payload, ctypes.pointer(raw))
        return ("err", ffi.wasmtime_component_val_new(ctypes.byref(raw)))

    return lowered


from wasmtime import _ffi as ffi  # noqa: E402  (private, pinned with wasmtime==50.0.1 in requirements.txt)

ffi_val = ffi.wasmtime_component_val_t
ResultType._lower = _lower_err_first(ResultType._lower)


class Shape:
    """What a storage callback's value must be for wasmtime-py to lower it: `check(value, path)` returns
    where and how it departs, as `(path, found, expected)`, or None if it fits."""

    def __init__(self, what, check):
        self.what = what
        self.check = check


def _found(value):
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _scalar(what, fits):
    return Shape(what, lambda value, path: None if fits(value) else (path, _found(value), what))


U64 = _scalar("a u64 (an int)", lambda v: type(v) is int and 0 <= v < 2**64)
STRING = _scalar("a str", lambda v: isinstance(v, str))
NOTHING = _scalar("None", lambda v: v is None)
# Values wasmtime-py cannot take as a record (it reads a record's fields as attributes).
_NOT_RECORDS = (str, bytes, int, float, bool, list, tuple, dict, set, type(None))


def _list(what, item):
    def check(value, path):
        if not isinstance(value, list):
            return (path, _found(value), what)
        for index, element in enumerate(value):
            wrong = item.check(element, f"{path}[{index}]")
            if wrong:
                return wrong
        return None

    return Shape(what, check)


def _record(what, fields):
    def check(value, path):
        if isinstance(value, _NOT_RECORDS):
            return (path, _found(value), what)
        for name, field in fields.items():
            if not hasattr(value, name):
                return (f"{path}.{name}", "nothing", field.what)
            wrong = field.check(getattr(value, name), f"{path}.{name}")
            if wrong:
                return wrong
        return None

    return Shape(what, check)


def _option(inner):
    what = f"{inner.what} or None"

    def check(value, path):
        if value is None:
            return None
        wrong = inner.check(value, path)
        return (path, wrong[1], what) if wrong and wrong[0] == path else wrong

    return Shape(what, check)


_IDS = _list("a list of arena ids", STRING)
STORAGE_RESULTS = {
    "head": _option(_record("a log-head record", {"seq": U64, "hash": STRING})),
    "snapshot": _option(_record("a state-snapshot record", {"seq": U64, "state": STRING})),
    "read-events": _list(
        "a list of events",
        _record(
            "an event record",
            {"seq": U64, "at": STRING, "actor": STRING, "kind": STRING, "payload": STRING, "hash": STRING},
        ),
    ),
    "append": NOTHING,
    "participating": _IDS,
    "list-arenas": _IDS,
    "tagged": _IDS,
}
"""What each storage function (by its WIT name) must return as its `ok` value."""

def _one_of(what, *names):
    return _scalar(what, lambda v: isinstance(v, str) and v in names)


_STATUS = _one_of("an arena-status", "created", "active", "settling", "archived")
ARENA_ERRORS = {
    "not-found": NOTHING,
    "invalid-transition": _record("a transition record", {"from": _STATUS, "to": _STATUS}),
    "invalid-state": STRING,
    "permission-denied": _one_of(
        "a permission", "observe", "read-slots", "contribute", "share-facts", "steer", "coordinate"
    ),
    "invalid-input": STRING,
    "limit-exceeded": _record("a limit record", {"what": STRING, "limit": U64}),
    "already-done": NOTHING,
    "conflict": NOTHING,
    "storage": STRING,
}
"""The `arena-error` cases, each with its payload: an error a callback answers is one of these."""


def _error_mismatch(error):
    """Where `error` (an `Err` payload) departs from an `arena-error`, as `(path, found, expected)`."""
    if not isinstance(error, Variant):
        return ("", _found(error), "an arena-error Variant")
    if error.tag not in ARENA_ERRORS:
        return (".tag", repr(error.tag), f"one of {', '.join(ARENA_ERRORS)}")
    return ARENA_ERRORS[error.tag].check(error.payload, ".payload")


def _storage_mismatch(name, did, wrong):
    """The `storage` error for the mismatch `wrong` (`(path, found, expected)`) in what `name` answered,
    or None if there is none; `did` says how it answered it."""
    if not wrong:
        return None
    path, found, expected = wrong
    at = f" at {path}" if path else ""
    return Err(Variant("storage", f"storage {name} {did} {found}{at} where {expected} was expected"))


def storage_error(callback, name=None):
    """`callback`, with an exception it raises answered as a `storage` arena-error value: the component
    gets a typed error and the instance stays usable (an exception escaping a host function would trap
    it). So is a value of the wrong type for the storage function `name` (checked against
    `STORAGE_RESULTS`), which wasmtime-py would fail to lower: the error names the function, where in
    the value, and what was expected. An `arena-error` variant returned (or `Err(variant)`) is answered
    as that error, and one with an unknown case or a payload of the wrong type is a `storage` error too."""
    shape = STORAGE_RESULTS.get(name)

    @functools.wraps(callback)
    def guarded(store, *args):
        try:
            value = callback(store, *args)
        except Exception as e:  # noqa: BLE001 — every failure of the storage becomes the error value
            return Err(Variant("storage", f"{type(e).__name__}: {e}"))
        if isinstance(value, Variant) and value.tag in ARENA_ERRORS:
            value = Err(value)
        if isinstance(value, Err):
            return _storage_mismatch(name, "answered an error of", _error_mismatch(value.payload)) or value
        wrong = shape.check(value, "") if shape else None
        return _storage_mismatch(name, "returned", wrong) or value

    return guarded


class ArenaError(Exception):
    """An `arena-error` the component returned."""

    def __init__(self, variant):
        super().__init__(f"{variant.tag}: {variant.payload!r}")
        self.tag = variant.tag
        self.payload = variant.payload


class SqliteStorage:
    """The `storage` interface on sqlite3 (autocommit mode; each append is one BEGIN IMMEDIATE)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.before_append = None  # a test hook: runs once, before the next append's transaction

    def head(self, _store, arena):
        row = self.db.execute(
            "SELECT seq, hash FROM events WHERE arena_id = ? ORDER BY seq DESC LIMIT 1", (arena,)
        ).fetchone()
        return None if row is None else record(seq=row[0], hash=row[1])

    def snapshot(self, _store, arena, at_most):
        row = self.db.execute(
            "SELECT seq, state FROM snapshots WHERE arena_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (arena, min(at_most, 2**63 - 1)),
        ).fetchone()
        return None if row is None else record(seq=row[0], state=row[1])

    def read_events(self, _store, arena, after, limit):
        rows = self.db.execute(
            "SELECT seq, at, actor, kind, payload, hash FROM events"
            " WHERE arena_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (arena, after, limit),
        )
        return [record(seq=r[0], at=r[1], actor=r[2], kind=r[3], payload=r[4], hash=r[5]) for r in rows]

    def append(self, _store, arena, expected_seq, events, indexed, snapshot):
        hook, self.before_append = self.before_append, None
        if hook:
            hook()
        if not events:
            return Variant("invalid-input", "an append needs at least one event")
        if expected_seq == 0 and indexed is None:
            return Variant("invalid-input", "an append that creates an arena needs its record")
        for offset, event in enumerate(events):
            if event.seq != expected_seq + 1 + offset:
                return Variant("invalid-input", f"event {event.seq} does not follow {expected_seq + offset}")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute(
                "SELECT max(seq) FROM events WHERE arena_id = ?", (arena,)
            ).fetchone()
            if (row[0] or 0) != expected_seq:
                self.db.execute("ROLLBACK")
                return Variant("conflict")
            self.db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(arena, e.seq, e.at, e.actor, e.kind, e.payload, e.hash) for e in events],
            )
            if indexed is not None:
                self.db.execute(
                    "INSERT INTO arenas VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status",
                    (arena, indexed.status),
                )
                self.db.execute("DELETE FROM members WHERE arena_id = ?", (arena,))
                self.db.executemany(
                    "INSERT OR IGNORE INTO members VALUES (?, ?)",
                    [(agent, arena) for agent in indexed.participants],
                )
                self.db.execute("DELETE FROM arena_tags WHERE arena_id = ?", (arena,))
                self.db.executemany(
                    "INSERT OR IGNORE INTO arena_tags VALUES (?, ?)",
                    [(tag, arena) for tag in indexed.tags],
                )
            if snapshot is not None:
                self.db.execute(
                    "INSERT INTO snapshots VALUES (?, ?, ?)", (arena, events[-1].seq, snapshot)
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return None

    def participating(self, _store, agent):
        rows = self.db.execute(
            "SELECT m.arena_id FROM members m JOIN arenas a ON a.id = m.arena_id"
            " WHERE m.agent = ? AND a.status <> 'archived'",
            (agent,),
        )
        return [r[0] for r in rows]

    def list_arenas(self, _store, after, limit):
        rows = self.db.execute(
            "SELECT id FROM arenas WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
        )
        return [r[0] for r in rows]

    def tagged(self, _store, tag, after, limit):
        rows = self.db.execute(
            "SELECT arena_id FROM arena_tags WHERE tag = ? AND arena_id > ? ORDER BY arena_id LIMIT ?",
            (tag, after or "", limit),
        )
        return [r[0] for r in rows]


class Arena:
    """One instance of the arena component, in its own Store, on a SqliteStorage."""

    _engine = Engine()
    _component = None

    def __init__(self, path):
        if Arena._component is None:
            Arena._component = Component.from_file(Arena._engine, str(COMPONENT))
        self.storage = SqliteStorage(path)
        self.store = Store(Arena._engine)
        self.store.set_wasi(WasiConfig())
        linker = Linker(Arena._engine)
        linker.add_wasip2()
        with linker.root() as root:
            with root.add_instance(f"{PACKAGE}/types@{VERSION}"):
                pass
            with root.add_instance(f"{PACKAGE}/storage@{VERSION}") as storage:
                for name in ("head", "snapshot", "read-events", "append", "participating",
                             "list-arenas", "tagged"):
                    callback = getattr(self.storage, name.replace("-", "_"))
                    storage.add_func(name, storage_error(callback, name))
        self.instance = linker.instantiate(self.store, Arena._component)
        self._manager = self.instance.get_export_index(self.store, f"{PACKAGE}/manager@{VERSION}")

    def call(self, name, *args):
        """Calls `manager.<name>`; an `arena-error` is raised as ArenaError."""
        index = self.instance.get_export_index(self.store, name, self._manager)
        result = self.instance.get_func(self.store, index)(self.store, *args)
        if isinstance(result, Variant):
            if result.tag == "ok":
                return result.payload
            raise ArenaError(result.payload if result.tag == "err" else result)
        return result
