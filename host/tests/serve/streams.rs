//! Live events: the cap on streams, resuming after a disconnect, and many clients at once.

use std::time::{Duration, Instant};

use arena_host::ArenaHost;
use serde_json::Value;

use super::*;

#[test]
fn streams_beyond_the_cap_are_refused_with_503_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let id = active_arena(&writer(&db), 2);
    let server = Server::start(&db, &["--max-streams", "2"]);
    let first = Stream::open(server.addr, &id, &[]).ok().unwrap();
    let _second = Stream::open(server.addr, &id, &[]).ok().unwrap();
    let refused = Stream::open(server.addr, &id, &[]).err().unwrap();
    assert_eq!(refused.status, 503);
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"], "limit-exceeded");
    assert_eq!(body["limit"], 2);
    // A stream that ends gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Stream::open(server.addr, &id, &[]) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("still refused: {}", e.body),
        }
    }
}

/// Commits `n` progress reports as `wendy`, one operation each.
fn busy(host: &ArenaHost, id: &str, n: usize) {
    let wendy = host.handle(id, "wendy").unwrap();
    for i in 0..n {
        wendy.report_progress(&format!("note {i}")).unwrap();
    }
}

#[test]
fn a_stream_resumes_from_last_event_id_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &[]);
    let end = 5 + 400;
    let writing = {
        let (host, id) = (host.clone(), id.clone());
        std::thread::spawn(move || busy(&host, &id, 400))
    };
    let mut seen = Vec::new();
    let mut stream = Stream::open(server.addr, &id, &[]).ok().unwrap();
    while seen.len() < 60 {
        let (seq, event) = stream.next();
        assert_eq!(event["seq"], seq);
        seen.push(seq);
    }
    // Hang up in the middle of the busy arena, and come back a little later.
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    let last = seen.last().unwrap().to_string();
    let mut stream = Stream::open(server.addr, &id, &[("Last-Event-ID", &last)])
        .ok()
        .unwrap();
    while *seen.last().unwrap() < end {
        seen.push(stream.next().0);
    }
    writing.join().unwrap();
    assert_eq!(seen, (1..=end).collect::<Vec<_>>());
}

#[test]
fn a_hundred_streams_each_get_a_thousand_operations_in_order() {
    const CLIENTS: usize = 100;
    const OPERATIONS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let host = writer(&db);
    let id = active_arena(&host, 2);
    let server = Server::start(&db, &["--max-streams", "128"]);
    let end = (5 + OPERATIONS) as u64;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = Stream::open(server.addr, &id, &[]).ok().unwrap();
        clients.push(std::thread::spawn(move || {
            let mut expected = 1;
            while expected <= end {
                let (seq, event) = stream.next();
                assert_eq!(seq, expected, "out of order or duplicated");
                assert_eq!(event["seq"], seq);
                expected += 1;
            }
        }));
    }
    let rss_before = server.rss_kib();
    busy(&host, &id, OPERATIONS);
    let written = started.elapsed();
    let mut rss_peak = rss_before;
    for client in clients {
        while !client.is_finished() {
            rss_peak = rss_peak.max(server.rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        client.join().expect("a client saw every event in order");
    }
    eprintln!(
        "{CLIENTS} streams, {OPERATIONS} operations: written in {written:?}, all delivered in {:?}; \
         server RSS {rss_before} KiB before, {rss_peak} KiB at most",
        started.elapsed()
    );
    // Each stream holds at most a page of events: the server's memory stays bounded.
    assert!(rss_peak < 512 * 1024, "server RSS {rss_peak} KiB");
}
