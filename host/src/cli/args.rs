//! The command line: the arguments `arena` takes, and the parsers of the values clap cannot parse
//! alone.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use arena_host::parse_steps;
use arena_host::types::{ParticipantSpec, Permission, Role, SlotStatus, Stage};

/// Operate SharedArena arenas on a database file: create and inspect them as the operator, or act
/// through a participant's handle with `--as AGENT`, with exactly that participant's permissions.
#[derive(Parser)]
#[command(name = "arena", version, about)]
pub(crate) struct Cli {
    /// The arena database: an SQLite file (created if missing), or a `postgres://` URL for a
    /// PostgreSQL database that hosts on several machines share.
    #[arg(long, global = true, env = "ARENA_DB", default_value = "arena.db")]
    pub(crate) db: String,
    /// Machine-readable output: JSON, or JSON Lines for streams of events.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// An idempotency key for `create` or an agent action (`--as`): a retry with the same key and the
    /// same request writes nothing and prints the original result; the same key with a different
    /// request is refused.
    #[arg(long, global = true, value_name = "KEY")]
    pub(crate) key: Option<String>,
    /// Open the database read-only, whatever the command: nothing is created, migrated or written,
    /// and a command that writes fails. Read commands (`list`, `show`, `verify`, `events`, `facts`,
    /// `artifacts`) always open read-only.
    #[arg(long, global = true)]
    pub(crate) read_only: bool,
    /// Commit durability: `normal` survives a killed process, `full` also a power loss.
    #[arg(long, global = true, value_enum, default_value_t = DurabilityArg::Normal)]
    pub(crate) durability: DurabilityArg,
    /// Where the compiled arena component is kept between runs, so that a start loads it instead of
    /// compiling it [default: $XDG_CACHE_HOME/sharedarena, else ~/.cache/sharedarena].
    #[arg(long, global = true, value_name = "DIR", env = "ARENA_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Compile the arena component in this process; read and write no cache.
    #[arg(long, global = true)]
    pub(crate) no_cache: bool,
    /// Group commit: concurrent operations share one transaction (`auto`: with `--durability full`).
    #[arg(long, global = true, value_enum, default_value_t = GroupCommitArg::Auto)]
    pub(crate) group_commit: GroupCommitArg,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum GroupCommitArg {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DurabilityArg {
    Normal,
    Full,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StrategyArg {
    Peer,
    Pipeline,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SlotStatusArg {
    Idle,
    Working,
    Done,
    Failed,
}

impl From<SlotStatusArg> for SlotStatus {
    fn from(status: SlotStatusArg) -> Self {
        match status {
            SlotStatusArg::Idle => SlotStatus::Idle,
            SlotStatusArg::Working => SlotStatus::Working,
            SlotStatusArg::Done => SlotStatus::Done,
            SlotStatusArg::Failed => SlotStatus::Failed,
        }
    }
}

/// Content given inline or read from a file (`-` for standard input).
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ContentArgs {
    /// The content.
    #[arg(long)]
    content: Option<String>,
    /// Read the content from this file (`-`: standard input).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

impl ContentArgs {
    pub(crate) fn read(self) -> Result<String> {
        match (self.content, self.file) {
            (Some(content), _) => Ok(content),
            (None, Some(path)) if path.as_os_str() == "-" => {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")
            }
            (None, Some(path)) => std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display())),
            (None, None) => bail!("give --content or --file"),
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create an arena and print its id.
    Create {
        /// What the participants work towards.
        #[arg(long)]
        goal: String,
        /// How many steps make the goal.
        #[arg(long)]
        steps: u32,
        /// A participant as AGENT:ROLE, or AGENT:ROLE:PERM,PERM to narrow the role (repeatable).
        #[arg(long = "participant", value_name = "AGENT:ROLE")]
        participants: Vec<String>,
        /// The strategy's coordinator (default: the first coordinator listed).
        #[arg(long)]
        coordinator: Option<String>,
        /// How the participants work together: peers under the coordinator, or pipeline stages.
        #[arg(long, value_enum, default_value_t = StrategyArg::Peer)]
        strategy: StrategyArg,
        /// A pipeline stage as AGENT:STEPS[:DEPENDS,...], STEPS a comma-separated list of N or N-M
        /// (e.g. `drafter:1-2`, `editor:4:drafter,reviewer`); repeatable, with --strategy pipeline.
        #[arg(
            long = "stage",
            value_name = "AGENT:STEPS[:DEPENDS]",
            value_parser = parse_stage,
            required_if_eq("strategy", "pipeline")
        )]
        stages: Vec<Stage>,
        /// Who is creating it (recorded as the creator).
        #[arg(long = "as", value_name = "AGENT", default_value = "operator")]
        creator: String,
    },
    /// Fork an arena: create a new arena whose state is ID's right after event SEQ, and print
    /// its id. The fork's log holds ID's events up to SEQ, then its own `arena-forked` event; it
    /// starts `created` if ID was `created` at SEQ, else `active`.
    Fork {
        id: String,
        /// The parent's event to fork after (1 to its last).
        #[arg(long, value_name = "SEQ")]
        at: u64,
        /// Who is forking it (recorded as the fork's creator).
        #[arg(long = "as", value_name = "AGENT", default_value = "operator")]
        creator: String,
    },
    /// List arenas, or with --agent the ids of the non-archived arenas it participates in.
    List {
        #[arg(long)]
        agent: Option<String>,
    },
    /// Show an arena (as it was after event SEQ with --at).
    Show {
        id: String,
        /// Show the arena as it was right after this event, replayed from event 1.
        #[arg(long, value_name = "SEQ")]
        at: Option<u64>,
    },
    /// Print an arena's events.
    Events {
        id: String,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many events (all when omitted).
        #[arg(long, conflicts_with = "follow")]
        limit: Option<u32>,
        /// Keep printing new events as they commit, until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// Check an arena's hash chain and replay its log against the stored state.
    Verify {
        id: String,
        /// Also check that the log still holds event SEQ with hash HASH (an anchor kept elsewhere,
        /// from `arena head`): this catches a log cut back consistently, which the chain cannot.
        #[arg(long, value_name = "SEQ:HASH")]
        expect: Option<String>,
    },
    /// Print the seq and hash of an arena's last event: an anchor to keep elsewhere, for
    /// `arena verify ID --expect SEQ:HASH`.
    Head { id: String },
    /// Check the whole database: SQLite's full integrity check of the file (PostgreSQL has none),
    /// then `verify` of every arena (or of ID alone). Read-only; a progress bar on a terminal.
    /// Exit status: 0 when all is well, 1 when it finds any problem (a damaged file, an arena that
    /// fails verification, a database it cannot read), 2 for a usage error.
    Check {
        /// Verify only this arena (the integrity check still covers the whole file).
        id: Option<String>,
    },
    /// created → active.
    Activate {
        id: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// active → settling.
    Settle {
        id: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// settling → archived.
    Archive {
        id: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Any state but archived → archived, with a reason.
    Abort {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Invite AGENT:ROLE into the arena.
    Invite {
        id: String,
        #[arg(value_name = "AGENT:ROLE")]
        participant: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Leave the arena.
    Leave {
        id: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Complete step N.
    Step {
        id: String,
        step: u32,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Report progress.
    Progress {
        id: String,
        note: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Update the goal.
    Goal {
        id: String,
        goal: String,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Store an artifact in your own slot and print it.
    Put {
        id: String,
        /// What the content is: `text`, `code`, `structured` (JSON), ...
        #[arg(long)]
        kind: String,
        #[command(flatten)]
        content: ContentArgs,
        /// Metadata as KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
        metadata: Vec<(String, String)>,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// List every slot (owner, status, artifact ids), or with --agent one slot with its artifacts.
    Artifacts {
        id: String,
        /// Show this agent's slot with its artifacts' content.
        #[arg(long)]
        agent: Option<String>,
        /// Read through this participant's handle (needs read-slots); the operator's view without.
        #[arg(long = "as", value_name = "AGENT")]
        reader: Option<String>,
    },
    /// Set your own slot's status (in a pipeline, `done` marks your stage done).
    Slot {
        id: String,
        #[arg(value_enum)]
        status: SlotStatusArg,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Store merged content in your slot, recording the artifacts it came from.
    Merge {
        id: String,
        /// The source artifacts, in order (one or more).
        #[arg(long = "from", value_name = "ARTIFACT", num_args = 1.., required = true)]
        sources: Vec<String>,
        #[command(flatten)]
        content: ContentArgs,
        /// What the merged content is.
        #[arg(long, default_value = "text")]
        kind: String,
        /// Metadata as KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
        metadata: Vec<(String, String)>,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Share a fact and print it.
    Fact {
        id: String,
        /// The knowledge.
        #[arg(long)]
        content: String,
        /// How sure you are, in [0, 1].
        #[arg(long)]
        confidence: f64,
        /// A tag (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Query shared facts as the operator: of one arena, or across arenas by tag.
    Facts {
        /// The arena; without it, every arena whose facts carry --tag.
        id: Option<String>,
        /// Only facts carrying exactly this tag (required across arenas).
        #[arg(long)]
        tag: Option<String>,
        /// Only facts containing this text, ignoring case (Unicode case folding).
        #[arg(long)]
        text: Option<String>,
    },
    /// Run the arena of plugins a TOML manifest describes, printing every turn.
    Run {
        manifest: PathBuf,
        /// Carry on with this arena (its plugins as the manifest describes them) instead of the
        /// manifest's `[arena]`.
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        /// Print only failed or stopped turns and the summary.
        #[arg(long, conflicts_with = "events")]
        quiet: bool,
        /// End with every event of the arena, not the last 20.
        #[arg(long)]
        events: bool,
    },
    /// Print an arena's result raw, ready to pipe: the artifact its settle report names, the last
    /// merge of an arena that completed.
    Result { id: String },
    /// Run the sample plugins as a three-stage pipeline, from creation to the settle report.
    Demo {
        /// Pause this long after each turn, so that the arena can be watched as it works
        /// (`arena serve`). No pause by default.
        #[arg(long, value_name = "MS")]
        pace: Option<u64>,
    },
    /// Serve a read-only HTTP API, live events (Server-Sent Events) and a web console over the
    /// database, until interrupted.
    Serve {
        /// The address to listen on. Anything but a loopback address needs --token.
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: std::net::SocketAddr,
        /// A secret every request must carry: `Authorization: Bearer TOKEN`, or `?token=TOKEN`
        /// (which the page turns into a cookie).
        #[arg(long, env = "ARENA_SERVE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Live event streams served at once; one more is refused with 503.
        #[arg(long, value_name = "N", default_value_t = 256)]
        max_streams: usize,
        /// MCP at `/mcp`: tool calls that write, per agent token per minute.
        #[arg(long, value_name = "N", default_value_t = 600)]
        mcp_writes_per_minute: u32,
        /// MCP: request bytes per agent token per minute.
        #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
        mcp_bytes_per_minute: u64,
        /// MCP: the JSON arguments of one tool call, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
        mcp_max_argument_bytes: usize,
        /// MCP: one request body, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 2 << 20)]
        mcp_max_body_bytes: usize,
        /// MCP: open sessions per agent token.
        #[arg(long, value_name = "N", default_value_t = 8)]
        mcp_sessions_per_token: usize,
        /// MCP: open sessions in all.
        #[arg(long, value_name = "N", default_value_t = 256)]
        mcp_max_sessions: usize,
        /// MCP: a session idle this many seconds is closed.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        mcp_idle_seconds: u64,
        /// MCP: a browser origin allowed besides loopback ones, as `https://host:port`
        /// (repeatable).
        #[arg(long, value_name = "ORIGIN")]
        mcp_allow_origin: Vec<String>,
        /// One line per request (time, remote address, method, path with any token redacted,
        /// status, bytes, duration, the agent a bearer token named): to standard error (`-`), to
        /// a file it appends to (PATH), or `off`.
        #[arg(long, value_name = "PATH|-|off", default_value = "-")]
        access_log: crate::serve::access::Destination,
    },
    /// Agent tokens, for MCP clients over HTTP: each acts as one agent on one arena.
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Serve MCP over standard input and output as AGENT on arena ID, for a client that starts this
    /// program itself (Claude Code, Claude Desktop, Cursor…): the client gets exactly the tools the
    /// agent's permissions grant. Needs no token: whoever can start it can open the database.
    Mcp {
        /// The arena.
        #[arg(long, value_name = "ID")]
        arena: String,
        /// The participant the client acts as.
        #[arg(long = "as", value_name = "AGENT")]
        agent: String,
    },
    /// Measure the hot paths against baselines measured in the same run; print one table of ratios.
    Bench {
        /// Every case at tiny sizes, in seconds: checks the suite runs (the figures mean nothing).
        #[arg(long, conflicts_with = "full")]
        smoke: bool,
        /// The full suite, as `cargo bench` runs it: a 1,000,000-event replay, 10,000 instances.
        #[arg(long)]
        full: bool,
        /// Where replay fixtures are built once and kept.
        #[arg(long, value_name = "DIR", default_value = "target/bench-fixtures")]
        fixtures: PathBuf,
        /// Run only the groups of cases whose name contains one of these words (repeatable), e.g.
        /// `--only agents --only replay`; `arena bench --list` names the groups.
        #[arg(long, value_name = "WORD")]
        only: Vec<String>,
        /// Name the groups of cases, and run none.
        #[arg(long)]
        list: bool,
    },
}

/// What `arena token` does.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a token that acts as AGENT on arena ID, and print it alone on standard output: the
    /// only time it is shown (the database keeps only its SHA-256).
    Issue {
        id: String,
        agent: String,
        /// How long it is honoured: `90s`, `30m`, `12h`, `7d` [default: until revoked].
        #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
        ttl: Option<std::time::Duration>,
        /// A note for `arena token list`: who or what it was issued to.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
    },
    /// List the tokens of arena ID (of every arena without it): ids, agents, labels and times,
    /// never a token.
    List { id: Option<String> },
    /// Revoke a token by its id (`tok-…`, as `list` shows it): it is refused from now on.
    Revoke {
        #[arg(value_name = "TOKEN-ID")]
        token_id: String,
    },
}

/// Parses a duration: a whole number and a unit, `s`, `m`, `h` or `d`.
pub(crate) fn parse_ttl(text: &str) -> Result<std::time::Duration> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| anyhow!("{text:?} needs a unit: s, m, h or d (e.g. 12h)"))?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number
        .parse()
        .with_context(|| format!("{text:?} does not start with a whole number"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{text:?}: the unit must be s, m, h or d"),
    };
    if number == 0 {
        bail!("{text:?}: a token must be honoured for some time");
    }
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| anyhow!("{text:?} is too long"))
}

/// Usage rules clap cannot express: exits with a usage error (status 2) when one is broken.
pub(crate) fn check_usage(cli: &Cli) {
    if let Command::Create {
        strategy, stages, ..
    } = &cli.command
        && !stages.is_empty()
        && *strategy != StrategyArg::Pipeline
    {
        let mut command = Cli::command();
        command.build();
        let create = command
            .find_subcommand_mut("create")
            .expect("the create subcommand");
        create
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--stage needs --strategy pipeline",
            )
            .exit();
    }
}

/// Parses `AGENT:ROLE` or `AGENT:ROLE:PERM,PERM` (agent ids may themselves contain colons).
pub(crate) fn parse_participant(text: &str) -> Result<ParticipantSpec> {
    let parts: Vec<&str> = text.rsplitn(3, ':').collect();
    let (agent, role, permissions) = match parts.as_slice() {
        [last, middle, first] if middle.parse::<Role>().is_ok() => {
            (first.to_string(), *middle, Some(*last))
        }
        [role, agent_tail, agent_head] => (format!("{agent_head}:{agent_tail}"), *role, None),
        [role, agent] => (agent.to_string(), *role, None),
        _ => bail!("participant {text:?} is not AGENT:ROLE"),
    };
    let role: Role = role.parse().map_err(|_| {
        anyhow!("unknown role {role:?} in {text:?} (coordinator, worker or observer)")
    })?;
    let permissions = permissions
        .map(|list| {
            list.split(',')
                .map(|name| {
                    name.parse::<Permission>()
                        .map_err(|_| anyhow!("unknown permission {name:?} in {text:?}"))
                })
                .collect::<Result<Vec<Permission>>>()
        })
        .transpose()?;
    Ok(ParticipantSpec {
        agent,
        role,
        permissions,
    })
}

/// Parses a pipeline stage `AGENT:STEPS[:DEPENDS,...]`: STEPS a comma-separated list of `N` or `N-M`,
/// DEPENDS the agents of the stages it waits for.
fn parse_stage(text: &str) -> Result<Stage> {
    let mut parts = text.splitn(3, ':');
    let agent = parts.next().unwrap_or_default();
    let steps = parts.next().ok_or_else(|| {
        anyhow!("stage {text:?} is not AGENT:STEPS[:DEPENDS,...] (e.g. drafter:1-2)")
    })?;
    if agent.is_empty() {
        bail!("stage {text:?} names no agent");
    }
    if steps.is_empty() {
        bail!("stage {text:?} owns no steps");
    }
    let steps = parse_steps(steps).map_err(|e| anyhow!("stage {text:?}: {e}"))?;
    let depends_on = match parts.next() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|agent| {
                if agent.is_empty() {
                    bail!("stage {text:?}: an empty agent among its dependencies")
                }
                Ok(agent.to_string())
            })
            .collect::<Result<Vec<_>>>()?,
    };
    Ok(Stage {
        agent: agent.to_string(),
        steps,
        depends_on,
    })
}

/// Parses metadata `KEY=VALUE` (the value may contain `=`).
fn parse_meta(text: &str) -> Result<(String, String)> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| anyhow!("metadata {text:?} is not KEY=VALUE"))
}
