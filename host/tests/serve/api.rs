//! The JSON endpoints: the shapes `--json` prints, the errors, and what guards them.

use serde_json::Value;

use super::*;

#[test]
fn the_api_answers_with_the_shapes_the_cli_prints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 3);
    let wendy = host.handle(&id, "wendy").unwrap();
    wendy.complete_step(1).unwrap();
    wendy
        .add_fact(&FactDraft {
            content: "Coral bleaching on the north reef".into(),
            confidence: 0.75,
            tags: vec!["reef".into()],
        })
        .unwrap();
    let server = Server::start(&db, &[]);

    assert_eq!(
        server.get(&format!("/api/arenas/{id}")).json(),
        cli_json(&db, &["show", &id])[0]
    );
    assert_eq!(
        server.get(&format!("/api/arenas/{id}?at=2")).json(),
        cli_json(&db, &["show", &id, "--at", "2"])[0]
    );
    let list = server.get("/api/arenas").json();
    assert_eq!(list["arenas"], Value::Array(cli_json(&db, &["list"])));
    assert_eq!(list["next"], Value::Null);
    let events = server
        .get(&format!("/api/arenas/{id}/events?after=2&limit=3"))
        .json();
    assert_eq!(
        events["events"],
        Value::Array(cli_json(
            &db,
            &["events", &id, "--after", "2", "--limit", "3"]
        ))
    );
    assert_eq!(events["next"], 5);
    assert_eq!(
        server.get(&format!("/api/arenas/{id}/facts")).json()["facts"],
        Value::Array(cli_json(&db, &["facts", &id]))
    );
    assert_eq!(
        server.get("/api/facts?tag=reef").json()["facts"],
        Value::Array(cli_json(&db, &["facts", "--tag", "reef"]))
    );
    assert_eq!(
        server.get(&format!("/api/arenas/{id}/verify")).json(),
        cli_json(&db, &["verify", &id])[0]
    );
    assert_eq!(
        Value::Array(
            server
                .get(&format!("/api/arenas/{id}/slots"))
                .json()
                .as_array()
                .unwrap()
                .clone()
        ),
        Value::Array(cli_json(&db, &["artifacts", &id]))
    );
}

#[test]
fn arenas_filter_by_status_and_agent_and_page_with_next() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let first = active_arena(&host, 2);
    let second = active_arena(&host, 2);
    host.handle(&second, "lead")
        .unwrap()
        .abort("called off")
        .unwrap();
    let server = Server::start(&db, &[]);

    let page = server.get("/api/arenas?limit=1").json();
    assert_eq!(page["arenas"][0]["id"], first.as_str());
    assert_eq!(page["next"], first.as_str());
    let rest = server.get(&format!("/api/arenas?after={first}")).json();
    assert_eq!(rest["arenas"][0]["id"], second.as_str());
    let archived = server.get("/api/arenas?status=archived").json();
    let ids: Vec<&str> = archived["arenas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
    assert_eq!(
        server.get("/api/arenas?agent=nobody").json()["arenas"],
        serde_json::json!([])
    );
    assert_eq!(
        server.get("/api/arenas?agent=otto").json()["arenas"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let report = server.get(&format!("/api/arenas/{second}/report")).json();
    assert_eq!(report["outcome"], "aborted: called off");
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    let unknown = "01934b5e-0000-7000-8000-000000000000";

    let cases: Vec<(String, u16, &str)> = vec![
        (format!("/api/arenas/{unknown}"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/events"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/slots"), 404, "not-found"),
        (format!("/api/arenas/{unknown}/facts"), 404, "not-found"),
        (
            format!("/api/arenas/{unknown}/events/stream"),
            404,
            "not-found",
        ),
        (
            format!("/api/arenas/{id}/artifacts/art-99"),
            404,
            "not-found",
        ),
        (format!("/api/arenas/{id}/slots/nobody"), 404, "not-found"),
        (format!("/api/arenas/{id}/report"), 404, "not-found"),
        (format!("/api/arenas/{id}?at=abc"), 400, "invalid-input"),
        (format!("/api/arenas/{id}?at=-1"), 400, "invalid-input"),
        (format!("/api/arenas/{id}?at=0"), 400, "invalid-input"),
        (
            format!("/api/arenas/{id}/events?after=x"),
            400,
            "invalid-input",
        ),
        (
            format!("/api/arenas/{id}/events?limit=0"),
            400,
            "invalid-input",
        ),
        (
            format!("/api/arenas/{id}/events?limit=1001"),
            400,
            "limit-exceeded",
        ),
        ("/api/arenas?status=sleeping".into(), 400, "invalid-input"),
        ("/api/arenas?colour=red".into(), 400, "invalid-input"),
        ("/api/facts".into(), 400, "invalid-input"),
        ("/api/nothing-here".into(), 404, "not-found"),
        ("/etc/passwd".into(), 404, "not-found"),
        ("/../Cargo.toml".into(), 404, "not-found"),
    ];
    for (path, status, variant) in cases {
        let answer = server.get(&path);
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert_eq!(answer.json()["error"], variant, "{path}");
        assert!(
            answer.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let capped = server
        .get(&format!("/api/arenas/{id}/events?limit=5000"))
        .json();
    assert_eq!(capped["limit"], 1000);
    let garbled = Stream::open(server.addr, &id, &[("Last-Event-ID", "seven")])
        .err()
        .unwrap();
    assert_eq!(garbled.status, 400);
}

#[test]
fn nothing_changes_an_arena() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in [
            format!("/api/arenas/{id}"),
            format!("/api/arenas/{id}/events"),
            "/api/arenas".into(),
        ] {
            let answer = raw(server.addr, method, &path, &[("Content-Length", "0")]);
            assert_eq!(answer.status, 405, "{method} {path}");
            let body = answer.json();
            assert_eq!(body["error"], "method-not-allowed", "{method} {path}");
            assert_eq!(
                body["message"],
                format!("{path} is served for GET only, not {method}")
            );
        }
    }
    assert_eq!(host.get(&id).unwrap().last_seq, 5);
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.db"), &[]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("SharedArena"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    let script = server.get("/app.js");
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.body.contains("EventSource"));
    assert_eq!(server.get("/style.css").status, 200);
    assert_eq!(server.get("/index.html.bak").status, 404);
}

#[test]
fn a_token_guards_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active_arena(&writer(&db), 2);
    let server = Server::start(&db, &["--token", "s3cret-token"]);
    let path = format!("/api/arenas/{id}");

    for (path, headers) in [
        (path.clone(), vec![]),
        ("/".to_string(), vec![]),
        (path.clone(), vec![("Authorization", "Bearer wrong-token!")]),
        (format!("{path}?token=s3cret-toke"), vec![]),
        (path.clone(), vec![("Cookie", "arena_token=nope")]),
    ] {
        let answer = request(server.addr, &path, &headers);
        assert_eq!(answer.status, 401, "{path} {headers:?}");
        assert_eq!(answer.json()["error"], "unauthorized");
        assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    let bearer = request(
        server.addr,
        &path,
        &[("Authorization", "Bearer s3cret-token")],
    );
    assert_eq!(bearer.status, 200);
    let query = server.get("/?token=s3cret-token");
    assert_eq!(query.status, 200);
    let cookie = query.header("set-cookie").unwrap();
    assert!(cookie.starts_with("arena_token=s3cret-token;") && cookie.contains("HttpOnly"));
    let with_cookie = request(
        server.addr,
        &path,
        &[("Cookie", "theme=dark; arena_token=s3cret-token")],
    );
    assert_eq!(with_cookie.status, 200);
    assert!(
        Stream::open(
            server.addr,
            &id,
            &[("Authorization", "Bearer s3cret-token")]
        )
        .is_ok()
    );
    assert_eq!(
        Stream::open(server.addr, &id, &[]).err().unwrap().status,
        401
    );
}

#[test]
fn without_a_token_only_loopback_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let out = program()
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve on 0.0.0.0:0 without --token"),
        "{stderr}"
    );

    // A page elsewhere that renames itself to 127.0.0.1 (DNS rebinding) is not answered.
    let server = Server::start(&db, &[]);
    let rebound = request(
        server.addr,
        "/api/arenas",
        &[("Host", "attacker.example:7070")],
    );
    assert_eq!(rebound.status, 403);
    assert_eq!(rebound.json()["error"], "forbidden");
    assert_eq!(
        request(server.addr, "/api/arenas", &[("Host", "localhost:7070")]).status,
        200
    );
}

#[test]
fn arenas_are_found_by_goal_ignoring_case_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let reef = active_arena(&host, 1);
    let other = host
        .create(&ArenaConfig {
            goal: "Map the Lagoon".into(),
            total_steps: 1,
            strategy: Strategy::Peer("lead".into()),
            participants: vec![spec("lead", Role::Coordinator)],
            created_by: "operator".into(),
        })
        .unwrap();
    let server = Server::start(&db, &[]);

    let ids = |path: &str| -> Vec<String> {
        server.get(path).json()["arenas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("/api/arenas?goal=the%20LAGOON"),
        std::slice::from_ref(&other)
    );
    assert_eq!(ids("/api/arenas?goal=reef"), std::slice::from_ref(&reef));
    assert_eq!(
        ids("/api/arenas?goal=reef&status=archived"),
        Vec::<String>::new()
    );
    assert_eq!(ids("/api/arenas?goal=%20"), [reef.clone(), other.clone()]);
    // A page of one match names where to go on from.
    let page = server.get("/api/arenas?goal=E&limit=1").json();
    assert_eq!(page["arenas"][0]["id"], reef.as_str());
    assert_eq!(page["next"], reef.as_str());
    let too_long = server.get(&format!("/api/arenas?goal={}", "x".repeat(1025)));
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.json()["error"], "limit-exceeded");
    assert_eq!(too_long.json()["limit"], 1024);
}

#[test]
fn an_artifact_downloads_as_a_file_of_its_content_never_as_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 1);
    let wendy = host.handle(&id, "wendy").unwrap();
    let put = |kind: &str, content: &str| {
        wendy
            .put_artifact(&arena_host::types::ArtifactDraft {
                kind: kind.into(),
                content: content.into(),
                metadata: vec![],
            })
            .unwrap()
            .id
    };
    let html = put("text", "<script>alert(1)</script> plain");
    let json = put("structured", "{\"a\": [1, 2]}");
    let notes = put("markdown", "# Notes\n- one");
    let server = Server::start(&db, &[]);

    let text = server.get(&format!("/api/arenas/{id}/artifacts/{html}/content"));
    assert_eq!(text.status, 200);
    assert_eq!(text.body, "<script>alert(1)</script> plain");
    assert_eq!(
        text.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        text.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-{html}.txt\""))
    );
    assert_eq!(
        text.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        text.header("content-security-policy").as_deref(),
        Some("sandbox")
    );

    let structured = server.get(&format!("/api/arenas/{id}/artifacts/{json}/content"));
    assert_eq!(structured.body, "{\"a\": [1, 2]}");
    assert_eq!(
        structured.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        structured
            .header("content-disposition")
            .unwrap()
            .ends_with(".json\"")
    );
    let markdown = server.get(&format!("/api/arenas/{id}/artifacts/{notes}/content"));
    assert!(
        markdown
            .header("content-disposition")
            .unwrap()
            .ends_with(".md\"")
    );

    let missing = server.get(&format!("/api/arenas/{id}/artifacts/art-999/content"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not-found");
}
