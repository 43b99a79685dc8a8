//! `events`: an arena's log, once or followed as it grows.

use anyhow::Result;

use super::Session;

/// Prints the events after `after` (at most `limit`); with `follow`, keeps printing new ones as they
/// commit, until interrupted.
pub(crate) fn print(
    s: &Session,
    id: &str,
    after: u64,
    limit: Option<u32>,
    follow: bool,
) -> Result<()> {
    if follow {
        // The log is the source of truth: follow it from the last event printed.
        for event in s.host.follow(id, after) {
            s.out.event(&event?)?;
        }
        return Ok(());
    }
    let events = match limit {
        Some(limit) => s.host.events(id, after, limit)?,
        None => s.host.all_events(id, after)?,
    };
    s.out.events(&events)
}
