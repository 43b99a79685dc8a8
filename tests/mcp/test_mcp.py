"""The arena as an MCP server, driven by the official Python MCP SDK as a real client, over stdio
(`arena mcp`) and Streamable HTTP (`/mcp` of `arena serve`).

The `arena` program is the one `cargo test` builds (`target/debug/arena`), or `$ARENA_BIN`.
"""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = Path(__file__).resolve().parents[2]
ARENA = os.environ.get("ARENA_BIN", str(ROOT / "target" / "debug" / "arena"))

OBSERVE = ["info", "goal", "status", "progress", "participants", "events", "leave", "facts"]
READ_SLOTS = ["list_slots", "read_slot", "read_artifact"]
CONTRIBUTE = ["complete_step", "report_progress", "put_artifact", "set_slot_status", "own_slot"]
SHARE_FACTS = ["add_fact"]
STEER = ["update_goal"]
COORDINATE = ["activate", "settle", "archive", "abort", "invite", "merge"]


def arena(db, *args, check=True):
    """Runs `arena --db DB ARGS…` and returns its standard output, stripped."""
    done = subprocess.run(
        [ARENA, "--db", str(db), *args], capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(f"arena {' '.join(args)} failed: {done.stderr}")
    return done.stdout.strip()


@pytest.fixture
def pipeline(tmp_path):
    """A pipeline arena: `lead` coordinates, `ada` does steps 1-2, `bob` steps 3-4 after ada, `olga`
    observes and `nell` is a worker narrowed to observe and contribute."""
    db = tmp_path / "arena.db"
    arena_id = arena(
        db, "create", "--goal", "A guide to delta birds", "--steps", "4",
        "--participant", "lead:coordinator", "--participant", "ada:worker",
        "--participant", "bob:worker", "--participant", "olga:observer",
        "--participant", "nell:worker:observe,contribute",
        "--strategy", "pipeline", "--stage", "ada:1-2", "--stage", "bob:3-4:ada",
    )
    return db, arena_id


@contextlib.contextmanager
def serving(db, *flags):
    """`arena serve` on a free loopback port with `flags`; yields its `/mcp` URL."""
    process = subprocess.Popen(
        [ARENA, "--db", str(db), "serve", "--addr", "127.0.0.1:0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"http://([0-9.:]+)/", line)
    assert match, f"arena serve printed {line!r}"
    try:
        yield f"http://{match.group(1)}/mcp"
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.fixture
def server(pipeline):
    db, _ = pipeline
    with serving(db, "--mcp-writes-per-minute", "40", "--mcp-max-argument-bytes", "4096",
                 "--mcp-max-body-bytes", "65536") as url:
        yield url


def token(db, arena_id, agent, *extra):
    return arena(db, "token", "issue", arena_id, agent, *extra)


@contextlib.asynccontextmanager
async def over_stdio(db, arena_id, agent):
    params = StdioServerParameters(command=ARENA, args=["--db", str(db), "mcp", "--arena", arena_id, "--as", agent])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@contextlib.asynccontextmanager
async def over_http(url, bearer, headers=None):
    all_headers = {"Authorization": f"Bearer {bearer}", **(headers or {})}
    async with create_mcp_http_client(headers=all_headers) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def tool_names(session):
    return [tool.name for tool in (await session.list_tools()).tools]


async def call(session, name, **arguments):
    result = await session.call_tool(name, arguments)
    assert not result.is_error, f"{name}: {result.content}"
    return result.structured_content


async def refusal(session, name, **arguments):
    result = await session.call_tool(name, arguments)
    assert result.is_error, f"{name} was not refused: {result.structured_content}"
    return result.structured_content


def expected_tools(*groups):
    return [name for group in groups for name in group]


EXPECTED = {
    "lead": expected_tools(OBSERVE, READ_SLOTS, CONTRIBUTE, SHARE_FACTS, STEER, COORDINATE),
    "ada": expected_tools(OBSERVE, READ_SLOTS, CONTRIBUTE, SHARE_FACTS),
    "olga": expected_tools(OBSERVE, READ_SLOTS),
    "nell": expected_tools(OBSERVE, CONTRIBUTE),
}


def test_each_role_lists_exactly_its_grant_over_stdio(pipeline):
    db, arena_id = pipeline

    async def main():
        for agent, tools in EXPECTED.items():
            async with over_stdio(db, arena_id, agent) as session:
                assert sorted(await tool_names(session)) == sorted(tools), agent

    asyncio.run(main())


def test_each_role_lists_exactly_its_grant_over_http(pipeline, server):
    db, arena_id = pipeline

    async def main():
        for agent, tools in EXPECTED.items():
            async with over_http(server, token(db, arena_id, agent)) as session:
                assert sorted(await tool_names(session)) == sorted(tools), agent

    asyncio.run(main())


def test_a_tool_outside_the_grant_called_by_name_is_refused(pipeline, server):
    db, arena_id = pipeline

    async def main():
        async with over_stdio(db, arena_id, "olga") as session:
            refused = await refusal(session, "complete_step", step=1)
            assert refused["error"] == "permission-denied"
        async with over_http(server, token(db, arena_id, "nell")) as session:
            refused = await refusal(session, "add_fact", content="x")
            assert refused["error"] == "permission-denied"

    asyncio.run(main())


def test_an_arena_error_is_a_tool_result_and_the_session_goes_on(pipeline):
    db, arena_id = pipeline

    async def main():
        async with over_stdio(db, arena_id, "ada") as session:
            refused = await refusal(session, "complete_step", step=1)
            # The arena is not active yet.
            assert refused["error"] in ("invalid-state", "invalid-transition"), refused
            assert refused["message"]
            info = await call(session, "info")
            assert info["status"] == "created"

    asyncio.run(main())


def test_a_whole_pipeline_by_three_clients_verifies_and_names_each_actor(pipeline, server):
    db, arena_id = pipeline

    async def main():
        async with over_http(server, token(db, arena_id, "lead")) as lead, \
                over_http(server, token(db, arena_id, "ada")) as ada, \
                over_stdio(db, arena_id, "bob") as bob:
            await call(lead, "activate")
            await call(ada, "set_slot_status", status="working")
            await call(ada, "complete_step", step=1, key="ada-1")
            again = await call(ada, "complete_step", step=1, key="ada-1")
            assert again["aggregate"]["completed-steps"] == 1, again
            await call(ada, "complete_step", step=2)
            draft = await call(ada, "put_artifact", kind="draft", content="Herons nest in March")
            await call(ada, "set_slot_status", status="done")
            await call(bob, "set_slot_status", status="working")
            await call(bob, "complete_step", step=3)
            await call(bob, "complete_step", step=4)
            review = await call(bob, "put_artifact", kind="review", content="Checked")
            await call(bob, "set_slot_status", status="done")
            await call(lead, "settle")
            merged = await call(
                lead, "merge", kind="guide", content="The guide",
                sources=[draft["artifact"]["id"], review["artifact"]["id"]],
            )
            assert merged["artifact"]["sources"] == [draft["artifact"]["id"], review["artifact"]["id"]]
            await call(lead, "archive")

    asyncio.run(main())
    arena(db, "verify", arena_id)
    events = [json.loads(line) for line in arena(db, "--json", "events", arena_id).splitlines()]
    acting = {
        "arena-activated": "lead", "arena-settling": "lead", "artifact-merged": "lead",
        "arena-archived": "lead",
    }
    by_kind = {}
    for event in events:
        by_kind.setdefault(event["kind"], set()).add(event["actor"])
    assert by_kind["step-completed"] == {"ada", "bob"}
    assert by_kind["artifact-put"] == {"ada", "bob"}
    assert by_kind["slot-updated"] == {"ada", "bob"}
    for kind, actor in acting.items():
        assert by_kind.get(kind) == {actor}, (kind, by_kind)
    # The keyed retry wrote nothing: four steps, four step events.
    assert sum(1 for e in events if e["kind"] == "step-completed") == 4


def http_status(url, bearer=None, headers=None, body=None):
    request_headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if bearer is not None:
        request_headers["Authorization"] = f"Bearer {bearer}"
    request_headers.update(headers or {})
    body = body or {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }
    response = httpx2.post(url, headers=request_headers, json=body, timeout=30)
    return response.status_code, response.text


def test_every_unhonoured_token_is_refused_alike_with_401(pipeline, server, tmp_path):
    db, arena_id = pipeline
    other = arena(db, "create", "--goal", "Another", "--steps", "1", "--participant", "lead:coordinator")
    revoked = token(db, arena_id, "ada")
    token_id = json.loads(arena(db, "--json", "token", "list", arena_id).splitlines()[-1])["id"]
    arena(db, "token", "revoke", token_id)
    expired = token(db, arena_id, "ada", "--ttl", "1s")
    left = token(db, arena_id, "nell")
    arena(db, "leave", arena_id, "--as", "nell")
    time.sleep(2.1)
    cases = {
        "no token": None,
        "wrong": "arena_" + "0" * 64,
        "revoked": revoked,
        "expired": expired,
        "agent left": left,
    }
    bodies = set()
    for case, bearer in cases.items():
        status, body = http_status(server, bearer)
        assert status == 401, (case, status, body)
        bodies.add(body)
    # Another arena's token, asked for this arena.
    status, body = http_status(server + f"?arena={arena_id}", token(db, other, "lead"))
    assert status == 401, body
    bodies.add(body)
    assert len(bodies) == 1, "every refusal reads the same"


def test_an_origin_not_allowed_is_refused_with_403(pipeline, server):
    db, arena_id = pipeline
    bearer = token(db, arena_id, "ada")
    status, body = http_status(server, bearer, {"Origin": "https://evil.example"})
    assert status == 403 and "origin" in body, body
    status, _ = http_status(server, bearer, {"Origin": "http://localhost:3000"})
    assert status == 200


def test_an_oversized_argument_is_refused_naming_its_limit(pipeline, server):
    db, arena_id = pipeline
    bearer = token(db, arena_id, "ada")
    call_body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                 "params": {"name": "put_artifact", "arguments": {"content": "x" * 5000}}}
    status, body = http_status(server, bearer, body=call_body)
    assert status == 413, body
    assert "tool call argument bytes (limit 4096)" in body, body


def test_writes_past_the_per_minute_quota_are_refused_naming_it(pipeline, server):
    db, arena_id = pipeline
    bearer = token(db, arena_id, "ada")
    write = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
             "params": {"name": "report_progress", "arguments": {"note": "n"}}}
    statuses = [http_status(server, bearer, body=write) for _ in range(41)]
    assert all(status != 429 for status, _ in statuses[:40]), statuses[:3]
    status, body = statuses[40]
    assert status == 429 and "writes per minute for this token (limit 40)" in body, body


def test_the_token_never_appears_in_output_or_the_database(pipeline, server):
    db, arena_id = pipeline
    bearer = token(db, arena_id, "ada")

    async def main():
        async with over_http(server, bearer) as session:
            await call(session, "info")

    asyncio.run(main())
    secret = bearer.removeprefix("arena_")
    listed = arena(db, "token", "list") + arena(db, "--json", "token", "list")
    events = arena(db, "--json", "events", arena_id)
    assert secret not in listed and secret not in events
    for path in db.parent.iterdir():
        if path.name.startswith(db.name):
            assert secret.encode() not in path.read_bytes(), path


def test_resources_and_the_join_prompt(pipeline):
    db, arena_id = pipeline

    async def main():
        async with over_stdio(db, arena_id, "ada") as session:
            uris = [str(r.uri) for r in (await session.list_resources()).resources]
            assert f"arena://{arena_id}" in uris and f"arena://{arena_id}/slots/bob" in uris
            read = await session.read_resource(f"arena://{arena_id}")
            info = json.loads(read.contents[0].text)
            assert info["goal"] == "A guide to delta birds"
            page = json.loads((await session.read_resource(f"arena://{arena_id}/events?after=2")).contents[0].text)
            assert page["events"][0]["seq"] == 3
            prompt = await session.get_prompt("join")
            text = prompt.messages[0].content.text
            assert "A guide to delta birds" in text and "ada" in text and "`complete_step`" in text
            assert "`settle`" not in text

    asyncio.run(main())


def test_a_subscriber_hears_another_clients_write_within_a_second(pipeline, server):
    db, arena_id = pipeline
    uri = f"arena://{arena_id}"

    async def main():
        heard = asyncio.Event()

        async def on_message(message):
            root = getattr(message, "root", message)
            params = getattr(root, "params", None)
            if getattr(root, "method", None) == "notifications/resources/updated" and str(params.uri) == uri:
                heard.set()

        all_headers = {"Authorization": f"Bearer {token(db, arena_id, 'olga')}"}
        async with create_mcp_http_client(headers=all_headers) as client:
            async with streamable_http_client(server, http_client=client) as (read, write):
                async with ClientSession(read, write, message_handler=on_message) as listener:
                    await listener.initialize()
                    await listener.subscribe_resource(uri)
                    await asyncio.sleep(0.3)
                    async with over_http(server, token(db, arena_id, "lead")) as lead:
                        await call(lead, "activate")
                        await asyncio.wait_for(heard.wait(), timeout=1.0)

    asyncio.run(main())


def test_a_body_past_its_cap_is_refused_naming_it(pipeline, server):
    db, arena_id = pipeline
    padding = {"jsonrpc": "2.0", "id": 4, "method": "ping", "params": {"pad": "x" * 70000}}
    status, body = http_status(server, token(db, arena_id, "ada"), body=padding)
    assert status == 413 and "request body bytes (limit 65536)" in body, body


def test_sessions_past_the_per_token_cap_are_refused_naming_it(pipeline):
    db, arena_id = pipeline
    bearer = token(db, arena_id, "ada")
    with serving(db, "--mcp-sessions-per-token", "1") as url:
        first, _ = http_status(url, bearer)
        assert first == 200
        status, body = http_status(url, bearer)
        assert status == 429 and "open MCP sessions for this token (limit 1)" in body, body
        # Another agent's token has sessions of its own.
        other, _ = http_status(url, token(db, arena_id, "bob"))
        assert other == 200


def answers(text):
    """The JSON-RPC answers in a response body (JSON, or SSE `data:` lines)."""
    found = []
    for line in text.splitlines():
        data = line.removeprefix("data:").strip()
        if data.startswith("{"):
            found.append(json.loads(data))
    return [a for a in found if "id" in a]


def open_session(url, headers):
    """Initializes a session over raw HTTP; returns the headers that carry it."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    response = httpx2.post(url, headers=headers, json=init, timeout=30)
    assert response.status_code == 200, response.text
    session = {**headers, "Mcp-Session-Id": response.headers["mcp-session-id"],
               "MCP-Protocol-Version": "2025-06-18"}
    httpx2.post(url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                timeout=30)
    return session


def test_a_server_killed_during_a_keyed_call_loses_nothing_and_the_retry_answers_the_same(pipeline):
    db, arena_id = pipeline
    arena(db, "activate", arena_id, "--as", "lead")
    bearer = token(db, arena_id, "ada")
    keyed = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
             "params": {"name": "complete_step", "arguments": {"step": 1, "key": "ada-step-1"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "Authorization": f"Bearer {bearer}"}
    process = subprocess.Popen([ARENA, "--db", str(db), "serve", "--addr", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = "http://" + re.search(r"http://([0-9.:]+)/", process.stdout.readline()).group(1) + "/mcp"
    try:
        session = open_session(url, headers)
        # The call goes out; the server is killed before (or while) it answers.
        with contextlib.suppress(httpx2.HTTPError):
            httpx2.post(url, headers=session, json=keyed, timeout=0.05)
    finally:
        process.kill()
        process.wait()
    with serving(db) as url:
        session = open_session(url, headers)
        first = answers(httpx2.post(url, headers=session, json=keyed, timeout=30).text)
        again = answers(httpx2.post(url, headers=session, json=keyed, timeout=30).text)
    assert first and first == again, (first, again)
    assert first[0]["result"]["isError"] is False, first
    arena(db, "verify", arena_id)
    events = [json.loads(line) for line in arena(db, "--json", "events", arena_id).splitlines()]
    assert sum(1 for e in events if e["kind"] == "step-completed") == 1


POSTGRES = os.environ.get("ARENA_TEST_POSTGRES")


@pytest.mark.skipif(not POSTGRES and not os.environ.get("ARENA_REQUIRE_POSTGRES"),
                    reason="needs PostgreSQL: run under tests/postgres/with-postgres.sh")
def test_two_hosts_on_postgresql_honour_one_token_and_a_write_on_one_reaches_a_subscriber_on_the_other():
    assert POSTGRES, "ARENA_REQUIRE_POSTGRES is set but ARENA_TEST_POSTGRES is not"
    arena_id = arena(POSTGRES, "create", "--goal", "Shared", "--steps", "2",
                     "--participant", "lead:coordinator", "--participant", "ada:worker")
    uri = f"arena://{arena_id}"
    ada = token(POSTGRES, arena_id, "ada")
    lead = token(POSTGRES, arena_id, "lead")

    async def main(first, second):
        heard = asyncio.Event()

        async def on_message(message):
            root = getattr(message, "root", message)
            if getattr(root, "method", None) == "notifications/resources/updated" \
                    and str(root.params.uri) == uri:
                heard.set()

        async with create_mcp_http_client(headers={"Authorization": f"Bearer {ada}"}) as client:
            async with streamable_http_client(first, http_client=client) as (read, write):
                async with ClientSession(read, write, message_handler=on_message) as listener:
                    await listener.initialize()
                    await listener.subscribe_resource(uri)
                    await asyncio.sleep(0.3)
                    # The same token on the other host, and a write there.
                    async with over_http(second, ada) as elsewhere:
                        assert "complete_step" in await tool_names(elsewhere)
                    async with over_http(second, lead) as coordinator:
                        await call(coordinator, "activate")
                        await asyncio.wait_for(heard.wait(), timeout=1.0)

    with serving(POSTGRES) as first, serving(POSTGRES) as second:
        asyncio.run(main(first, second))


def post_raw(url, bearer, content, session=None):
    """POSTs `content` (bytes, sent as is) to `url`; returns the status and the body."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "Authorization": f"Bearer {bearer}", **(session or {})}
    response = httpx2.post(url, headers=headers, content=content, timeout=30)
    return response.status_code, response.text


def ping_of(size):
    """A JSON-RPC `ping` body of exactly `size` bytes."""
    empty = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"pad": ""}})
    body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "ping",
                       "params": {"pad": "x" * (size - len(empty))}}).encode()
    assert len(body) == size
    return body


def limit_refusal(status, body, expected_status, what, limit):
    """Asserts a refusal is `expected_status` with the README's JSON naming `what` and `limit`."""
    assert status == expected_status, (status, body)
    assert json.loads(body) == {"error": "limit-exceeded",
                                "message": f"limit exceeded: {what} (limit {limit})",
                                "limit": limit}, body


def bearer_headers(bearer):
    return {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
            "Authorization": f"Bearer {bearer}"}


def test_request_bytes_past_the_per_minute_quota_are_refused_naming_it(pipeline):
    db, arena_id = pipeline
    ada = token(db, arena_id, "ada")
    with serving(db, "--mcp-bytes-per-minute", "1000") as url:
        # Two bodies of 500 bytes reach the quota exactly; that is still within it.
        for _ in range(2):
            status, body = post_raw(url, ada, ping_of(500))
            assert status != 429, body
        status, body = post_raw(url, ada, ping_of(100))
        limit_refusal(status, body, 429, "request bytes per minute for this token", 1000)
        # The quota is the token's: another agent's token has its own.
        status, body = post_raw(url, token(db, arena_id, "bob"), ping_of(500))
        assert status != 429, body


def test_sessions_past_the_cap_in_all_are_refused_naming_it_until_one_closes(pipeline):
    db, arena_id = pipeline
    with serving(db, "--mcp-max-sessions", "2") as url:
        ada = open_session(url, bearer_headers(token(db, arena_id, "ada")))
        open_session(url, bearer_headers(token(db, arena_id, "bob")))
        # A third agent, within its own per-token cap, meets the cap in all.
        lead = token(db, arena_id, "lead")
        status, body = http_status(url, lead)
        limit_refusal(status, body, 429, "open MCP sessions in all", 2)
        # A session closed by its client gives its place back.
        closed = httpx2.delete(url, headers=ada, timeout=30)
        assert closed.status_code in (200, 202, 204), closed.text
        status, body = http_status(url, lead)
        assert status == 200, body


def test_an_idle_session_is_closed_and_a_request_on_it_is_refused_as_unknown(pipeline):
    db, arena_id = pipeline
    ping = {"jsonrpc": "2.0", "id": 6, "method": "ping"}
    with serving(db, "--mcp-idle-seconds", "2", "--mcp-max-sessions", "1") as url:
        opened = time.monotonic()
        ada = open_session(url, bearer_headers(token(db, arena_id, "ada")))
        bob = token(db, arena_id, "bob")
        # A session in use is not idle: requests 1.2 s apart keep it past 2 s from its opening.
        for _ in range(2):
            time.sleep(1.2)
            answered = httpx2.post(url, headers=ada, json=ping, timeout=30)
            assert answered.status_code == 200, answered.text
        assert time.monotonic() - opened > 2
        status, body = http_status(url, bob)
        limit_refusal(status, body, 429, "open MCP sessions in all", 1)
        time.sleep(2.5)
        # Idle past its limit, it is closed: the server no longer knows it (404, as MCP answers an
        # unknown or terminated session, with the JSON every refusal has), and its place is free.
        expired = httpx2.post(url, headers=ada, json=ping, timeout=30)
        assert expired.status_code == 404, expired.text
        assert json.loads(expired.text)["error"] == "not-found", expired.text
        status, body = http_status(url, bob)
        assert status == 200, body


def test_a_subscribed_session_idle_past_its_time_is_closed_though_notifications_flow(pipeline):
    """Notifications sent to a session are not requests from it: after --mcp-idle-seconds without a
    request the session is closed, its place under the cap is free, and nobody can use its id."""
    db, arena_id = pipeline
    arena(db, "activate", arena_id, "--as", "lead")
    with serving(db, "--mcp-idle-seconds", "2", "--mcp-max-sessions", "1") as url:
        ada = open_session(url, bearer_headers(token(db, arena_id, "ada")))
        subscribe = {"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                     "params": {"uri": f"arena://{arena_id}"}}
        assert httpx2.post(url, headers=ada, json=subscribe, timeout=30).status_code == 200
        status, body = http_status(url, token(db, arena_id, "bob"))
        limit_refusal(status, body, 429, "open MCP sessions in all", 1)
        # No request on the session for 3 s, while commits send it a notification each.
        start = time.monotonic()
        while time.monotonic() - start < 3:
            arena(db, "progress", arena_id, "--as", "lead", "tick")
            time.sleep(0.3)
        ping = {"jsonrpc": "2.0", "id": 6, "method": "ping"}
        closed = httpx2.post(url, headers=ada, json=ping, timeout=30)
        assert closed.status_code == 404, closed.text
        assert json.loads(closed.text)["error"] == "not-found", closed.text
        bob = bearer_headers(token(db, arena_id, "bob"))
        taken = httpx2.post(url, headers={**bob, "Mcp-Session-Id": ada["Mcp-Session-Id"],
                                          "MCP-Protocol-Version": "2025-06-18"},
                            json=ping, timeout=30)
        assert taken.status_code == 404, taken.text
        status, body = http_status(url, token(db, arena_id, "bob"))
        assert status == 200, body
