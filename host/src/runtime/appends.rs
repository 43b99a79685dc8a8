//! A signal of this host's own appends, so that a reader waiting for news on this host wakes as soon
//! as a write commits here instead of at its next poll.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Counts the writes this host has committed and wakes whoever waits for the count to move.
#[derive(Default)]
pub(super) struct Appends {
    count: Mutex<u64>,
    moved: Condvar,
}

impl Appends {
    /// The writes committed so far.
    pub(super) fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a committed write and wakes every waiter.
    pub(super) fn bump(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.moved.notify_all();
    }

    /// Waits until the count passes `seen` or `timeout` passes; whether it moved.
    pub(super) fn wait_past(&self, seen: u64, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count <= seen {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            count = self
                .moved
                .wait_timeout(count, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_waiter_wakes_at_the_write_not_at_its_timeout() {
        let appends = Arc::new(Appends::default());
        let seen = appends.count();
        let writer = {
            let appends = appends.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                appends.bump();
            })
        };
        let start = Instant::now();
        assert!(appends.wait_past(seen, Duration::from_secs(30)));
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "woke at the timeout"
        );
        writer.join().unwrap();
        assert!(!appends.wait_past(appends.count(), Duration::from_millis(10)));
    }
}
