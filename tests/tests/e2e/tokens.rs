//! Agent tokens: a token acts as its agent with the agent's current permissions, and every reason it
//! is not honoured is one error; the database keeps only its SHA-256.

use std::time::Duration;

use arena_host::types::{ArenaStatus, Permission};
use arena_host::{ArenaHost, HostOptions, TokenError};
use arena_tests::{arena_in, fresh_host};

/// What every refused token answers, whatever the reason.
const REFUSED: &str = "the token is not honoured (it may be unknown, revoked or expired, be for \
                       another arena, or its agent may have left)";

fn refused(result: Result<arena_host::AgentHandle, TokenError>) -> String {
    match result {
        Err(e @ TokenError::Refused) => e.to_string(),
        Err(other) => panic!("expected the one refusal, got {other:?}"),
        Ok(handle) => panic!("expected a refusal, got {}'s handle", handle.agent()),
    }
}

#[test]
fn a_token_acts_as_its_agent_with_the_agents_current_permissions() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let issued = host
        .issue_token(&id, "wendy", None, Some("laptop"))
        .unwrap();
    assert!(issued.secret.expose().starts_with("arena_"));
    // 256 random bits, hex.
    assert_eq!(issued.secret.expose().len(), "arena_".len() + 64);
    let handle = host
        .resolve_token(issued.secret.expose(), Some(&id))
        .unwrap();
    assert_eq!((handle.arena(), handle.agent()), (id.as_str(), "wendy"));
    assert_eq!(
        handle.grant(),
        [
            Permission::Observe,
            Permission::ReadSlots,
            Permission::Contribute,
            Permission::ShareFacts
        ]
    );
    handle.complete_step(1).unwrap();
    let events = host.all_events(&id, 0).unwrap();
    assert_eq!(events.last().unwrap().actor, "wendy");
    // Without an arena to check against, the token names its own.
    let anywhere = host.resolve_token(issued.secret.expose(), None).unwrap();
    assert_eq!(anywhere.arena(), id);
    // Its use is noted.
    let listed = host.tokens(Some(&id)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, issued.record.id);
    assert_eq!(listed[0].label.as_deref(), Some("laptop"));
    assert!(listed[0].last_used_at.is_some());
}

#[test]
fn two_tokens_issued_for_one_agent_differ() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let a = host.issue_token(&id, "wendy", None, None).unwrap();
    let b = host.issue_token(&id, "wendy", None, None).unwrap();
    assert_ne!(a.secret.expose(), b.secret.expose());
    assert_ne!(a.record.id, b.record.id);
}

#[test]
fn an_unknown_token_is_refused() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    host.issue_token(&id, "wendy", None, None).unwrap();
    assert_eq!(
        refused(host.resolve_token("arena_0000", Some(&id))),
        REFUSED
    );
    assert_eq!(refused(host.resolve_token("", None)), REFUSED);
}

#[test]
fn a_revoked_token_is_refused_with_the_same_error() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let issued = host.issue_token(&id, "wendy", None, None).unwrap();
    host.revoke_token(&issued.record.id).unwrap();
    assert_eq!(
        refused(host.resolve_token(issued.secret.expose(), Some(&id))),
        REFUSED
    );
    // Revoking again changes nothing; an unknown id is named.
    host.revoke_token(&issued.record.id).unwrap();
    let unknown = host.revoke_token("tok-nope").unwrap_err().to_string();
    assert_eq!(
        unknown,
        "no token has the id \"tok-nope\" (`arena token list` shows the ids)"
    );
    assert!(host.tokens(Some(&id)).unwrap()[0].revoked_at.is_some());
}

#[test]
fn an_expired_token_is_refused_with_the_same_error() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let expired = host
        .issue_token(&id, "wendy", Some(Duration::ZERO), None)
        .unwrap();
    assert_eq!(
        refused(host.resolve_token(expired.secret.expose(), Some(&id))),
        REFUSED
    );
    let valid = host
        .issue_token(&id, "wendy", Some(Duration::from_secs(3600)), None)
        .unwrap();
    host.resolve_token(valid.secret.expose(), Some(&id))
        .unwrap();
}

#[test]
fn a_token_for_another_arena_is_refused_with_the_same_error() {
    let (_dir, host) = fresh_host();
    let ours = arena_in(&host, ArenaStatus::Active);
    let theirs = arena_in(&host, ArenaStatus::Active);
    let issued = host.issue_token(&theirs, "wendy", None, None).unwrap();
    assert_eq!(
        refused(host.resolve_token(issued.secret.expose(), Some(&ours))),
        REFUSED
    );
}

#[test]
fn a_token_whose_agent_left_is_refused_with_the_same_error() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let issued = host.issue_token(&id, "wendy", None, None).unwrap();
    host.handle(&id, "wendy").unwrap().leave().unwrap();
    assert_eq!(
        refused(host.resolve_token(issued.secret.expose(), Some(&id))),
        REFUSED
    );
}

#[test]
fn a_token_is_only_issued_for_a_participant_with_a_bounded_label() {
    let (_dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let stranger = host.issue_token(&id, "mallory", None, None).unwrap_err();
    assert_eq!(
        stranger.to_string(),
        format!(
            "agent \"mallory\" does not take part in arena {id}: a token can only act as a \
             participant"
        )
    );
    let long = "x".repeat(201);
    let too_long = host
        .issue_token(&id, "wendy", None, Some(&long))
        .unwrap_err();
    assert_eq!(
        too_long.to_string(),
        "the label is 201 bytes; at most 200 are kept (limit 200)"
    );
    assert!(host.tokens(None).unwrap().is_empty());
}

#[test]
fn the_database_keeps_only_the_sha256_of_a_token() {
    let (dir, host) = fresh_host();
    let id = arena_in(&host, ArenaStatus::Active);
    let issued = host.issue_token(&id, "wendy", None, Some("ci")).unwrap();
    let token = issued.secret.expose().to_string();
    let handle = host.resolve_token(&token, Some(&id)).unwrap();
    handle.report_progress("working through a token").unwrap();
    // Not in the record, its debug form, the events, nor any page of the database or its journal.
    assert!(!format!("{issued:?}").contains(&token));
    let events = format!("{:?}", host.all_events(&id, 0).unwrap());
    assert!(!events.contains(&token));
    drop(handle);
    drop(host);
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in a database file"
        );
    }
    assert!(files >= 1);
    // The hash is there, and answers after a reopen.
    let host = ArenaHost::open(dir.path().join("arena.db"), HostOptions::default()).unwrap();
    assert_eq!(
        host.resolve_token(&token, Some(&id)).unwrap().agent(),
        "wendy"
    );
}
