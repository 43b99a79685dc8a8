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
    /// The id to mint for `candidate`, a UUIDv7 of this clock's time and randomness, as a number.
    /// The system clock answers one greater than every id it minted before, so that ids sort by
    /// creation within a millisecond too; a clock for tests mints `candidate` as it is, so that the
    /// same clock gives the same ids.
    fn order_id(&self, candidate: u128) -> u128 {
        candidate
    }
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

    fn order_id(&self, candidate: u128) -> u128 {
        monotonic(candidate)
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

/// The last arena id this instance minted, as a number: ids minted in one millisecond still sort
/// in the order they were minted.
static LAST_MINTED: std::sync::Mutex<u128> = std::sync::Mutex::new(0);

/// A new arena id: UUIDv7 from the clock's time and randomness, ordered by the clock (the system
/// clock's are greater than every id this instance minted before, so that sorting ids sorts arenas
/// by creation, within a millisecond too, and when the clock steps back).
pub fn mint_arena_id(clock: &impl Clock) -> ArenaId {
    let millis = clock.now().timestamp_millis().max(0) as u64;
    let candidate = uuid::Builder::from_unix_timestamp_millis(millis, &clock.random())
        .into_uuid()
        .as_u128();
    uuid::Uuid::from_u128(clock.order_id(candidate))
        .hyphenated()
        .to_string()
}

/// The id to mint for `candidate` in this instance: one after the last it minted, unless greater.
fn monotonic(candidate: u128) -> u128 {
    let mut last = LAST_MINTED.lock().unwrap_or_else(|e| e.into_inner());
    let id = after(candidate, *last);
    *last = id;
    id
}

/// `candidate` if it sorts after `last`; otherwise the UUIDv7 right after `last` (RFC 9562's
/// monotonic random: the random bits counted up, carrying into the timestamp), keeping the version
/// and variant bits.
fn after(candidate: u128, last: u128) -> u128 {
    if candidate > last {
        return candidate;
    }
    const RAND_B: u128 = (1 << 62) - 1;
    const RAND_A: u128 = 0xfff;
    let millis = last >> 80;
    let rand_a = (last >> 64) & RAND_A;
    let rand_b = last & RAND_B;
    let (millis, rand_a, rand_b) = if rand_b < RAND_B {
        (millis, rand_a, rand_b + 1)
    } else if rand_a < RAND_A {
        (millis, rand_a + 1, 0)
    } else {
        (millis + 1, 0, 0)
    };
    (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
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
    fn ids_minted_by_the_system_clock_sort_in_the_order_they_were_minted() {
        // Thousands in a few milliseconds: plain v7 ids of one millisecond sort at random.
        let ids: Vec<String> = (0..2000).map(|_| mint_arena_id(&SystemClock)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn an_id_after_the_last_counts_up_its_random_bits() {
        let last = uuid::Builder::from_unix_timestamp_millis(5, &[0x10; 10])
            .into_uuid()
            .as_u128();
        let earlier = uuid::Builder::from_unix_timestamp_millis(4, &[0xff; 10])
            .into_uuid()
            .as_u128();
        assert_eq!(after(earlier, last), last + 1);
        let later = uuid::Builder::from_unix_timestamp_millis(6, &[0; 10])
            .into_uuid()
            .as_u128();
        assert_eq!(after(later, last), later);
    }

    #[test]
    fn the_id_after_the_last_carries_into_the_timestamp_when_its_random_bits_are_full() {
        let full = uuid::Builder::from_unix_timestamp_millis(5, &[0xff; 10])
            .into_uuid()
            .as_u128();
        let next = uuid::Uuid::from_u128(after(0, full));
        assert!(next.as_u128() > full);
        assert_eq!(next.get_version_num(), 7);
        assert_eq!(next.as_u128() >> 80, 6);
    }

    #[test]
    fn minted_ids_are_version_7_uuids() {
        let id = mint_arena_id(&SystemClock);
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        assert!(crate::types::check_arena_id(&id).is_ok());
    }
}
