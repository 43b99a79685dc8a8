//! Connections that are slow, idle or many: none of them keeps the server from answering.

use std::time::Instant;

use super::*;

/// Opens a connection and sends half a request header, never the rest.
fn half_open(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    // A server that closed it already at the cap may refuse the bytes: that is fine too.
    let _ = stream.write_all(b"GET /api/arenas HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    stream
}

/// Whether the server has closed `stream`, waiting up to `within` for it to.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// A GET of the arena list, answered within `within`, or `None`.
fn answered_within(addr: SocketAddr, within: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, within).ok()?;
    stream.set_read_timeout(Some(within)).ok()?;
    stream.set_write_timeout(Some(within)).ok()?;
    let request = format!("GET /api/arenas HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

#[test]
fn a_connection_that_never_finishes_its_header_is_closed_after_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.db"), &[]);
    let mut slow = half_open(server.addr);
    let opened = Instant::now();
    assert!(
        !closed_within(&mut slow, Duration::from_secs(8)),
        "closed early"
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)),
        "still open"
    );
    let held = opened.elapsed();
    assert!(held >= Duration::from_secs(9), "closed after {held:?}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.db"), &[]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    let request = format!("GET /api/arenas HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).unwrap();
    // Read the whole answer (its length is given), leaving the connection kept alive.
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    assert!(
        !closed_within(&mut stream, Duration::from_secs(8)),
        "closed early"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)),
        "kept open"
    );
}

#[test]
fn a_thousand_half_open_connections_do_not_keep_the_server_from_answering() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.db"), &[]);
    // Loopback only, bounded: 1,000 client sockets, well within this process's descriptors
    // (the server holds 512 of them at most and closes the rest as it accepts them).
    let opened = Instant::now();
    let mut held: Vec<TcpStream> = (0..1000).map(|_| half_open(server.addr)).collect();
    let first = loop {
        if answered_within(server.addr, Duration::from_secs(1)) == Some(200) {
            break opened.elapsed();
        }
        assert!(
            opened.elapsed() < Duration::from_secs(15),
            "no answer within 15 s of opening 1,000 half-open connections"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("first answer {first:?} after the connections opened");
    // From then on, every request is answered within a second.
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(
            answered_within(server.addr, Duration::from_secs(1)),
            Some(200),
            "not answered within 1 s"
        );
        assert!(asked.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the server closes every one of them, held as they still are at this end: each within
    // its 10 s header time of being accepted (one that waited in the listen backlog while the
    // server was full is accepted, and timed, later).
    let deadline = Instant::now() + Duration::from_secs(12);
    let still_open = held
        .iter_mut()
        .map(|s| {
            let left = deadline.saturating_duration_since(Instant::now());
            closed_within(s, left.max(Duration::from_millis(1)))
        })
        .filter(|closed| !closed)
        .count();
    assert_eq!(
        still_open, 0,
        "the server still holds half-open connections"
    );
}

#[test]
fn under_a_256_file_limit_1000_half_open_connections_do_not_keep_the_server_from_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    // The program's own command, run under `ulimit -n 256` by a shell. Its cap on connections
    // follows the limit, so it closes what it cannot hold as it accepts it, instead of leaving
    // the queue behind the listener full of connections that never speak.
    let program = program();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(program.get_program())
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", "127.0.0.1:0"]);
    for (key, value) in program.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let server = Server::spawn(command);
    let opened = Instant::now();
    let _held: Vec<TcpStream> = (0..1000).map(|_| half_open(server.addr)).collect();
    let first = loop {
        if answered_within(server.addr, Duration::from_secs(1)) == Some(200) {
            break opened.elapsed();
        }
        assert!(
            opened.elapsed() < Duration::from_secs(15),
            "no answer within 15 s of opening 1,000 half-open connections"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("first answer {first:?} after the connections opened");
    for _ in 0..10 {
        assert_eq!(
            answered_within(server.addr, Duration::from_secs(1)),
            Some(200),
            "not answered within 1 s"
        );
    }
}

#[test]
fn ctrl_c_stops_the_server_at_once_beside_idle_and_half_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("a.db"), &[]);
    // One kept alive after its request, one that never spoke, one halfway through its header.
    let mut kept = TcpStream::connect(server.addr).expect("connect");
    let request = format!("GET /api/arenas HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    kept.write_all(request.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).unwrap();
    let _silent = TcpStream::connect(server.addr).expect("connect");
    let _half = half_open(server.addr);
    std::thread::sleep(Duration::from_millis(200));
    let interrupted = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(asked.elapsed() < Duration::from_secs(20), "still serving");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = asked.elapsed();
    eprintln!("stopped {took:?} after Ctrl-C, {status}");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
}
