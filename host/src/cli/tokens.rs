//! `arena token`: issue, list and revoke agent tokens. A token is printed once, by `issue`, alone on
//! standard output; nothing else ever prints one.

use anyhow::{Context, Result};
use serde::Serialize;

use arena_host::TokenRecord;

use super::Session;
use super::args::TokenCommand;

/// A token's record as `list --json` prints it (times in RFC 3339, UTC).
#[derive(Serialize)]
struct TokenView<'a> {
    id: &'a str,
    arena: &'a str,
    agent: &'a str,
    label: Option<&'a str>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
    state: &'static str,
}

fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| at.to_string())
}

impl<'a> From<&'a TokenRecord> for TokenView<'a> {
    fn from(t: &'a TokenRecord) -> Self {
        let now = arena_host::tokens::unix_now();
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "valid"
        };
        TokenView {
            id: &t.id,
            arena: &t.arena,
            agent: &t.agent,
            label: t.label.as_deref(),
            created_at: rfc3339(t.created_at),
            expires_at: t.expires_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
            state,
        }
    }
}

/// `arena token …`.
pub(crate) fn command(s: &Session, action: TokenCommand) -> Result<()> {
    match action {
        TokenCommand::Issue {
            id,
            agent,
            ttl,
            label,
        } => {
            let issued = s
                .host
                .issue_token(&id, &agent, ttl, label.as_deref())
                .with_context(|| format!("issuing a token for {agent} on arena {id}"))?;
            // The token alone on stdout (with `--json` too), so that `$(arena token issue …)` is it.
            println!("{}", issued.secret.expose());
            eprintln!(
                "issued {} for {agent} on arena {id}{}; it is shown only now",
                issued.record.id,
                issued
                    .record
                    .expires_at
                    .map(|at| format!(", valid until {}", rfc3339(at)))
                    .unwrap_or_default()
            );
            Ok(())
        }
        TokenCommand::List { id } => {
            let tokens = s.host.tokens(id.as_deref())?;
            for token in &tokens {
                let view = TokenView::from(token);
                if s.out.json {
                    s.out.json(&view)?;
                } else {
                    println!(
                        "{}  {}  {:<12}  {:<7}  created {}  expires {}  last used {}{}",
                        view.id,
                        view.arena,
                        view.agent,
                        view.state,
                        view.created_at,
                        view.expires_at.as_deref().unwrap_or("never"),
                        view.last_used_at.as_deref().unwrap_or("never"),
                        view.label.map(|l| format!("  {l}")).unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        TokenCommand::Revoke { token_id } => {
            s.host.revoke_token(&token_id)?;
            s.out.value(
                &serde_json::json!({ "revoked": token_id }),
                &format!("revoked {token_id}"),
            )
        }
    }
}
