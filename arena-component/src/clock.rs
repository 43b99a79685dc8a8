//! The one place time and randomness enter the arena logic.
//!
//! In the component, `std`'s clock and `getrandom` are `wasi:clocks/wall-clock` and `wasi:random`.
//! Both are read only when an operation runs and are recorded in its events: replay never asks.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::types::ArenaId;

/// Where an operation gets the time and fresh randomness.
pub trait Clock {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;
    /// Ten fresh random bytes.
    fn random(&self) -> [u8; 10];
}

/// The system's (in the component, WASI's) clock and random source.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        DateTime::from_timestamp(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
            .unwrap_or_default()
    }

    fn random(&self) -> [u8; 10] {
        let mut bytes = [0u8; 10];
        // Without randomness the id still carries the time; a collision then surfaces as a
        // `conflict` on append and is retried with a later time, never as an overwrite.
        let _ = getrandom::fill(&mut bytes);
        bytes
    }
}

/// A deterministic clock for tests and reproducible runs: starts at `start`, advances one millisecond
/// per reading, and its "random" bytes are a counter.
#[derive(Debug)]
pub struct SteppingClock {
    next_millis: std::cell::Cell<i64>,
    counter: std::cell::Cell<u64>,
}

impl SteppingClock {
    /// A clock whose first reading is `start_millis` after the Unix epoch.
    pub fn starting_at(start_millis: i64) -> Self {
        SteppingClock {
            next_millis: std::cell::Cell::new(start_millis),
            counter: std::cell::Cell::new(0),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let millis = self.next_millis.get();
        self.next_millis.set(millis.saturating_add(1));
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }

    fn random(&self) -> [u8; 10] {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        let mut bytes = [0u8; 10];
        bytes[2..].copy_from_slice(&n.to_be_bytes());
        bytes
    }
}

/// An event timestamp: RFC 3339, UTC, microseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A new arena id: UUIDv7 from the clock's time and randomness.
pub fn mint_arena_id(clock: &impl Clock) -> ArenaId {
    let millis = clock.now().timestamp_millis().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &clock.random())
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(timestamp(at), "2023-11-14T22:13:20.123456Z");
    }

    #[test]
    fn minted_ids_are_version_7_uuids() {
        let id = mint_arena_id(&SystemClock);
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert!(crate::types::check_arena_id(&id).is_ok());
    }
}
