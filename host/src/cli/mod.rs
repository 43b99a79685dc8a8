//! `arena`, the operator's program: [`args`] says what it takes, one module per family of commands
//! does the work through the `arena_host` library, and [`render`] prints the results as text or
//! JSON ([`views`]).

mod actions;
mod arenas;
mod args;
mod bench;
mod check;
mod events;
mod facts;
mod render;
mod run;
mod slots;
mod tokens;
pub(crate) mod views;

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Parser;

use arena_host::Location;
use arena_host::types::{ArenaInfo, Event};
use arena_host::{
    AgentHandle, ArenaHost, Durability, GroupCommit, HostOptions, Operation, Performed,
};

use args::{Cli, Command, DurabilityArg, GroupCommitArg};
use render::Output;

/// Parses the command line and runs it; a usage error exits here with status 2.
pub(crate) fn main() -> Result<()> {
    let cli = Cli::parse();
    args::check_usage(&cli);
    run(cli)
}

/// What every command that opens the database works with.
pub(crate) struct Session {
    host: ArenaHost,
    out: Output,
    /// The idempotency key for agent actions (`--key`).
    key: Option<String>,
}

impl Session {
    /// `agent`'s handle on arena `id`, with exactly the permissions it holds there.
    fn handle(&self, id: &str, agent: &str) -> Result<AgentHandle> {
        self.host
            .handle(id, agent)
            .with_context(|| format!("arena {id}"))
    }

    /// Performs `op` as `agent` on arena `id` through its handle (with `--key`, if given), the path a
    /// plugin's calls take.
    fn act(&self, id: &str, agent: &str, op: Operation) -> Result<ArenaInfo> {
        Ok(self.handle(id, agent)?.perform(self.key.as_deref(), &op)?)
    }

    /// [`Session::act`], returning the event the operation ended with too (for a retried key, the
    /// first operation's) and its payload: what the arena stored, which messages are built from.
    fn act_recorded(
        &self,
        id: &str,
        agent: &str,
        op: Operation,
    ) -> Result<(ArenaInfo, Event, serde_json::Value)> {
        let info = self.act(id, agent, op)?;
        let seq = info.last_seq;
        let event = self
            .host
            .events(id, seq.saturating_sub(1), 1)?
            .pop()
            .filter(|e| e.seq == seq)
            .ok_or_else(|| {
                anyhow!(
                    "arena {id}: event {seq}, which the operation ended with, cannot be read back"
                )
            })?;
        let payload = serde_json::from_str(&event.payload)
            .with_context(|| format!("arena {id}: event {seq} has an unreadable payload"))?;
        Ok((info, event, payload))
    }

    /// [`Session::act`], returning what the operation created too.
    fn act_and_fetch(&self, id: &str, agent: &str, op: Operation) -> Result<Performed> {
        Ok(self
            .handle(id, agent)?
            .perform_and_fetch(self.key.as_deref(), &op)?)
    }
}

/// The component cache the program uses unless told otherwise.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("sharedarena"))
}

fn host_options(cli: &Cli) -> HostOptions {
    HostOptions {
        read_only: cli.read_only || reads_only(&cli.command),
        durability: match cli.durability {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        },
        component_cache: if cli.no_cache {
            None
        } else {
            cli.cache_dir.clone().or_else(default_cache_dir)
        },
        group_commit: match cli.group_commit {
            GroupCommitArg::Auto => GroupCommit::Auto,
            GroupCommitArg::On => GroupCommit::On,
            GroupCommitArg::Off => GroupCommit::Off,
        },
    }
}

/// Whether `command` only reads: it opens the database read-only, so it works on a file or medium
/// the process may not write, and can never change it.
fn reads_only(command: &Command) -> bool {
    matches!(
        command,
        Command::List { .. }
            | Command::Show { .. }
            | Command::Verify { .. }
            | Command::Head { .. }
            | Command::Check { .. }
            | Command::Events { .. }
            | Command::Facts { .. }
            | Command::Artifacts { .. }
            | Command::Result { .. }
    )
}

fn run(cli: Cli) -> Result<()> {
    let out = Output { json: cli.json };
    if let Command::Bench {
        smoke,
        full,
        fixtures,
        only,
        list,
    } = cli.command
    {
        return bench::command(smoke, full, fixtures, only, list, &out);
    }
    if let Command::Check { id } = &cli.command {
        // Before the host opens: a file too damaged to open is a finding to report, not the end.
        return check::command(
            Location::parse(&cli.db),
            host_options(&cli),
            id.clone(),
            &out,
        );
    }
    if let Command::Run {
        manifest, resume, ..
    } = &cli.command
    {
        // Before the database opens: a refused manifest leaves no file behind.
        run::check(manifest, resume.as_deref())?;
    }
    let location = Location::parse(&cli.db);
    // The error names the database and says why.
    let host = ArenaHost::open_at(location, host_options(&cli))?;
    let session = Session {
        host,
        out,
        key: cli.key,
    };
    let s = &session;
    match cli.command {
        Command::Create {
            goal,
            steps,
            participants,
            coordinator,
            strategy,
            stages,
            creator,
        } => arenas::create(
            s,
            arenas::NewArena {
                goal,
                steps,
                participants,
                coordinator,
                strategy,
                stages,
                creator,
            },
        ),
        Command::Fork { id, at, creator } => arenas::fork(s, &id, at, &creator),
        Command::List { agent } => arenas::list(s, agent),
        Command::Show { id, at } => arenas::show(s, &id, at),
        Command::Verify { id, expect } => arenas::verify(s, &id, expect.as_deref()),
        Command::Head { id } => arenas::head(s, &id),
        Command::Events {
            id,
            after,
            limit,
            follow,
        } => events::print(s, &id, after, limit, follow),
        Command::Activate { id, agent } => actions::lifecycle(s, &id, &agent, Operation::Activate),
        Command::Settle { id, agent } => actions::lifecycle(s, &id, &agent, Operation::Settle),
        Command::Archive { id, agent } => actions::lifecycle(s, &id, &agent, Operation::Archive),
        Command::Abort { id, reason, agent } => {
            actions::lifecycle(s, &id, &agent, Operation::Abort(reason))
        }
        Command::Invite {
            id,
            participant,
            agent,
        } => actions::invite(s, &id, &participant, &agent),
        Command::Leave { id, agent } => actions::leave(s, &id, &agent),
        Command::Step { id, step, agent } => actions::step(s, &id, step, &agent),
        Command::Progress { id, note, agent } => actions::progress(s, &id, note, &agent),
        Command::Goal { id, goal, agent } => actions::goal(s, &id, goal, &agent),
        Command::Put {
            id,
            kind,
            content,
            metadata,
            agent,
        } => slots::put(s, &id, kind, content, metadata, &agent),
        Command::Artifacts { id, agent, reader } => slots::artifacts(s, &id, agent, reader),
        Command::Slot { id, status, agent } => slots::set_status(s, &id, status.into(), &agent),
        Command::Merge {
            id,
            sources,
            content,
            kind,
            metadata,
            agent,
        } => slots::merge(s, &id, sources, content, kind, metadata, &agent),
        Command::Fact {
            id,
            content,
            confidence,
            tags,
            agent,
        } => facts::share(s, &id, content, confidence, tags, &agent),
        Command::Facts { id, tag, text } => facts::query(s, id.as_deref(), tag, text),
        Command::Run {
            manifest,
            resume,
            quiet,
            events,
        } => run::manifest(
            s,
            &manifest,
            run::Options {
                resume,
                quiet,
                all_events: events,
            },
        ),
        Command::Result { id } => run::result(s, &id),
        Command::Demo { pace } => run::demo(s, pace),
        Command::Serve {
            addr,
            token,
            max_streams,
            mcp_writes_per_minute,
            mcp_bytes_per_minute,
            mcp_max_argument_bytes,
            mcp_max_body_bytes,
            mcp_sessions_per_token,
            mcp_max_sessions,
            mcp_idle_seconds,
            mcp_allow_origin,
            access_log,
        } => crate::serve::command(
            s.host.clone(),
            crate::serve::Options {
                addr,
                token,
                max_streams,
                mcp: crate::serve::mcp::Limits {
                    writes_per_minute: mcp_writes_per_minute,
                    bytes_per_minute: mcp_bytes_per_minute,
                    max_argument_bytes: mcp_max_argument_bytes,
                    max_body_bytes: mcp_max_body_bytes,
                    sessions_per_token: mcp_sessions_per_token,
                    max_sessions: mcp_max_sessions,
                    idle_timeout: std::time::Duration::from_secs(mcp_idle_seconds.max(1)),
                    request_timeout: crate::mcp::REQUEST_TIMEOUT,
                    allowed_origins: mcp_allow_origin,
                },
                access_log,
            },
        ),
        Command::Token { action } => tokens::command(s, action),
        Command::Mcp { arena, agent } => crate::mcp::stdio(s.host.clone(), &arena, &agent),
        Command::Bench { .. } | Command::Check { .. } => {
            unreachable!("handled before the database is opened")
        }
    }
}
