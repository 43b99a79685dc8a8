//! Fixtures for the end-to-end tests: fresh databases, arenas in each state, participant specs, and
//! a model server speaking the chat-completions protocol.

pub mod model;

use arena_host::types::{ArenaConfig, ArenaError, ArenaStatus, ParticipantSpec, Role, Strategy};
use arena_host::{ArenaHost, HostError, HostOptions};

/// A host on a fresh database in a temporary directory (kept alive by the returned guard).
pub fn fresh_host() -> (tempfile::TempDir, ArenaHost) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let host =
        ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).expect("open host");
    (dir, host)
}

/// A participant with a role's full preset.
pub fn spec(agent: &str, role: Role) -> ParticipantSpec {
    ParticipantSpec {
        agent: agent.into(),
        role,
        permissions: None,
    }
}

/// A config with coordinator `lead`, worker `wendy` and observer `otto`, and `steps` steps.
pub fn config(steps: u32) -> ArenaConfig {
    ArenaConfig {
        goal: "map the coastline".into(),
        total_steps: steps,
        strategy: Strategy::Peer("lead".into()),
        participants: vec![
            spec("lead", Role::Coordinator),
            spec("wendy", Role::Worker),
            spec("otto", Role::Observer),
        ],
        created_by: "operator".into(),
    }
}

/// Creates an arena from [`config`] (5 steps) and brings it to `status` the legal way.
pub fn arena_in(host: &ArenaHost, status: ArenaStatus) -> String {
    let id = host.create(&config(5)).expect("create");
    let lead = host.handle(&id, "lead").expect("lead's handle");
    match status {
        ArenaStatus::Created => {}
        ArenaStatus::Active => {
            lead.activate().expect("activate");
        }
        ArenaStatus::Settling => {
            lead.activate().expect("activate");
            lead.settle().expect("settle");
        }
        ArenaStatus::Archived => {
            lead.activate().expect("activate");
            lead.settle().expect("settle");
            lead.archive().expect("archive");
        }
    }
    id
}

/// The arena error inside a host result, panicking on success or on a non-arena failure.
pub fn arena_error<T: std::fmt::Debug>(result: Result<T, HostError>) -> ArenaError {
    match result {
        Err(HostError::Arena(e)) => e,
        other => panic!("expected an arena error, got {other:?}"),
    }
}

/// The number of events in an arena's log.
pub fn event_count(host: &ArenaHost, arena: &str) -> usize {
    host.all_events(arena, 0).expect("events").len()
}

/// All four states, in lifecycle order.
pub const STATES: [ArenaStatus; 4] = [
    ArenaStatus::Created,
    ArenaStatus::Active,
    ArenaStatus::Settling,
    ArenaStatus::Archived,
];

/// The hash the arena chains an event with: lowercase hex SHA-256 over the previous event's hash (32
/// zero bytes before the first), the sequence number, and the length-prefixed kind, actor, time and
/// payload — so a test can forge an event whose only fault is what it says.
pub fn chain_hash(
    prev_hash: &str,
    seq: u64,
    kind: &str,
    actor: &str,
    at: &str,
    payload: &str,
) -> String {
    let mut bytes = vec![0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate().take(prev_hash.len() / 2) {
        *byte = u8::from_str_radix(&prev_hash[2 * i..2 * i + 2], 16).expect("hex hash");
    }
    bytes.extend_from_slice(&seq.to_be_bytes());
    for field in [kind, actor, at, payload] {
        bytes.extend_from_slice(&(field.len() as u32).to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    sha256(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (FIPS 180-4); the tests crate carries its own rather than another dependency.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let [a, b, c, d, e, f, g, hh] = v;
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let t2 = s0.wrapping_add((a & b) ^ (a & c) ^ (b & c));
            v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
        }
        for (x, y) in h.iter_mut().zip(v) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}
