//! `arena`: the operator's tool on an arena database it owns.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use arena_host::db::Location;
use arena_host::plugin::{PluginEngine, TurnOutcome, TurnReport};
use arena_host::run::{self, Manifest};
use arena_host::types::{
    ArenaConfig, ArenaInfo, Artifact, ArtifactDraft, Event, Fact, FactDraft, FactQuery,
    MergeRequest, Participant, ParticipantSpec, Permission, Pipeline, Role, SettleReport, Slot,
    SlotInfo, SlotStatus, Stage, Strategy,
};
use arena_host::{
    ArenaHost, Durability, GroupCommit, HostOptions, Operation, PERMISSIONS, outcome_text,
    parse_role, permission_name, role_name, status_name,
};

/// Operate SharedArena arenas on a database file: create and inspect them as the operator, or act
/// through a participant's handle with `--as AGENT`, with exactly that participant's permissions.
#[derive(Parser)]
#[command(name = "arena", version, about)]
struct Cli {
    /// The arena database: an SQLite file (created if missing), or a `postgres://` URL for a
    /// PostgreSQL database that hosts on several machines share.
    #[arg(long, global = true, env = "ARENA_DB", default_value = "arena.db")]
    db: String,
    /// Machine-readable output: JSON, or JSON Lines for streams of events.
    #[arg(long, global = true)]
    json: bool,
    /// An idempotency key for an agent action (`--as`): a retry with the same key writes nothing and
    /// prints the original result.
    #[arg(long, global = true, value_name = "KEY")]
    key: Option<String>,
    /// Commit durability: `normal` survives a killed process, `full` also a power loss.
    #[arg(long, global = true, value_enum, default_value_t = DurabilityArg::Normal)]
    durability: DurabilityArg,
    /// Where the compiled arena component is kept between runs, so that a start loads it instead of
    /// compiling it [default: $XDG_CACHE_HOME/sharedarena, else ~/.cache/sharedarena].
    #[arg(long, global = true, value_name = "DIR", env = "ARENA_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the arena component in this process; read and write no cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Group commit: concurrent operations share one transaction (`auto`: with `--durability full`).
    #[arg(long, global = true, value_enum, default_value_t = GroupCommitArg::Auto)]
    group_commit: GroupCommitArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum GroupCommitArg {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    Normal,
    Full,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyArg {
    Peer,
    Pipeline,
}

#[derive(Clone, Copy, ValueEnum)]
enum SlotStatusArg {
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
struct ContentArgs {
    /// The content.
    #[arg(long)]
    content: Option<String>,
    /// Read the content from this file (`-`: standard input).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
}

impl ContentArgs {
    fn read(self) -> Result<String> {
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
enum Command {
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
    Verify { id: String },
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
    Run { manifest: PathBuf },
    /// Run the sample plugins as a three-stage pipeline, from creation to the settle report.
    Demo,
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
    },
}

/// The component cache the program uses unless told otherwise.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("sharedarena"))
}

/// `arena bench`: runs the suite on temporary files and prints the table.
fn bench(smoke: bool, full: bool, fixtures: PathBuf, json: bool) -> Result<()> {
    use arena_host::bench::{self, BenchConfig};
    let exe = std::env::current_exe().ok();
    let config = if smoke {
        BenchConfig::smoke(fixtures, exe)
    } else if full {
        BenchConfig::full(fixtures, exe)
    } else {
        BenchConfig::standard(fixtures, exe)
    };
    let report = bench::run(&config, |case| eprintln!("measuring: {case}"))
        .map_err(|e| anyhow!("benchmark: {e}"))?;
    if json {
        for row in &report.rows {
            println!(
                "{}",
                json!({
                    "case": row.case, "measured": row.value, "baseline": row.baseline,
                    "baseline-value": row.baseline_value, "ratio": row.ratio,
                    "higher-is-better": row.higher_is_better, "target": row.target,
                    "met": row.met(), "durability": report.durability.name(),
                    "machine": report.machine,
                })
            );
        }
    } else {
        print!("{}", bench::table(&report));
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    check_usage(&cli);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Usage rules clap cannot express: exits with a usage error (status 2) when one is broken.
fn check_usage(cli: &Cli) {
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

fn run(cli: Cli) -> Result<()> {
    if let Command::Bench {
        smoke,
        full,
        fixtures,
    } = cli.command
    {
        return bench(smoke, full, fixtures, cli.json);
    }
    let options = HostOptions {
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
    };
    let location = Location::parse(&cli.db);
    let host = ArenaHost::open_at(location.clone(), options)
        .with_context(|| format!("opening arena database {location}"))?;
    let out = Output { json: cli.json };
    // Every agent action goes through the agent's handle, the path a plugin's calls take.
    let key = cli.key.clone();
    let act = |id: &str, agent: &str, op: Operation| -> Result<ArenaInfo> {
        let handle = host
            .handle(id, agent)
            .with_context(|| format!("arena {id}"))?;
        Ok(handle.perform(key.as_deref(), &op)?)
    };
    let handle = |id: &str, agent: &str| {
        host.handle(id, agent)
            .with_context(|| format!("arena {id}"))
    };
    match cli.command {
        Command::Create {
            goal,
            steps,
            participants,
            coordinator,
            strategy,
            stages,
            creator,
        } => {
            let participants = participants
                .iter()
                .map(|p| parse_participant(p))
                .collect::<Result<Vec<_>>>()?;
            let coordinator = match coordinator {
                Some(c) => c,
                None => participants
                    .iter()
                    .find(|p| p.role == Role::Coordinator)
                    .map(|p| p.agent.clone())
                    .ok_or_else(|| {
                        anyhow!("an arena needs a participant with the coordinator role")
                    })?,
            };
            let strategy = match strategy {
                StrategyArg::Peer => Strategy::Peer(coordinator),
                StrategyArg::Pipeline => Strategy::Pipeline(Pipeline {
                    coordinator,
                    stages,
                }),
            };
            let id = host.create(&ArenaConfig {
                goal,
                total_steps: steps,
                strategy,
                participants,
                created_by: creator,
            })?;
            out.value(json!({ "id": id }), &id);
        }
        Command::List { agent: Some(agent) } => {
            let ids = host.active_arenas_for(&agent)?;
            if out.json {
                println!("{}", json!(ids));
            } else {
                ids.iter().for_each(|id| println!("{id}"));
            }
        }
        Command::List { agent: None } => {
            let mut after: Option<String> = None;
            loop {
                let page = host.list(after.as_deref(), 1000)?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                for info in &page {
                    if out.json {
                        println!("{}", info_json(info));
                    } else {
                        println!(
                            "{}  {:<8}  {:>5}/{:<5}  {}",
                            info.id,
                            status_name(info.status),
                            info.aggregate.completed_steps,
                            info.aggregate.total_steps,
                            info.goal
                        );
                    }
                }
            }
        }
        Command::Show { id, at } => {
            let info = match at {
                Some(seq) => host.get_at(&id, seq)?,
                None => host.get(&id)?,
            };
            out.value(info_json(&info), &info_text(&info));
        }
        Command::Events {
            id,
            after,
            limit,
            follow,
        } => {
            let events = match limit {
                Some(limit) => host.events(&id, after, limit)?,
                None => host.all_events(&id, after)?,
            };
            out.events(&events);
            if follow {
                // The log is the source of truth: poll it after the last event printed.
                let mut last = events.last().map_or(after, |e| e.seq);
                loop {
                    host.wait_for_appends(std::time::Duration::from_secs(1))?;
                    let new = host.all_events(&id, last)?;
                    if let Some(event) = new.last() {
                        last = event.seq;
                        out.events(&new);
                    }
                }
            }
        }
        Command::Verify { id } => {
            let report = host.verify(&id)?;
            match &report.problem {
                None => out.value(
                    json!({ "id": id, "events": report.events, "ok": true }),
                    &format!(
                        "ok: {} events, hash chain intact, replay matches the stored state",
                        report.events
                    ),
                ),
                Some(problem) => {
                    if out.json {
                        println!(
                            "{}",
                            json!({ "id": id, "events": report.events, "ok": false, "problem": problem })
                        );
                    }
                    bail!("arena {id} failed verification: {problem}");
                }
            }
        }
        Command::Activate { id, agent } => {
            out.status(act(&id, &agent, Operation::Activate)?.status)
        }
        Command::Settle { id, agent } => out.status(act(&id, &agent, Operation::Settle)?.status),
        Command::Archive { id, agent } => {
            let info = act(&id, &agent, Operation::Archive)?;
            out.archived(&host, info)?;
        }
        Command::Abort { id, reason, agent } => {
            let info = act(&id, &agent, Operation::Abort(reason))?;
            out.archived(&host, info)?;
        }
        Command::Invite {
            id,
            participant,
            agent,
        } => {
            let spec = parse_participant(&participant)?;
            let info = act(&id, &agent, Operation::Invite(spec.clone()))?;
            let joined = info
                .participants
                .iter()
                .find(|p| p.agent == spec.agent)
                .ok_or_else(|| anyhow!("{} is not among the participants", spec.agent))?;
            out.value(participant_json(joined), &participant_text(joined));
        }
        Command::Leave { id, agent } => {
            act(&id, &agent, Operation::Leave)?;
            out.value(json!({ "left": agent }), &format!("{agent} left {id}"));
        }
        Command::Step { id, step, agent } => {
            let aggregate = act(&id, &agent, Operation::CompleteStep(step))?.aggregate;
            out.value(
                json!({ "completed-steps": aggregate.completed_steps, "total-steps": aggregate.total_steps }),
                &format!("step {step} done: {}/{}", aggregate.completed_steps, aggregate.total_steps),
            );
        }
        Command::Progress { id, note, agent } => {
            act(&id, &agent, Operation::ReportProgress(note.clone()))?;
            out.value(json!({ "agent": agent, "note": note }), "progress recorded");
        }
        Command::Goal { id, goal, agent } => {
            act(&id, &agent, Operation::UpdateGoal(goal.clone()))?;
            out.value(json!({ "goal": goal }), "goal updated");
        }
        Command::Put {
            id,
            kind,
            content,
            metadata,
            agent,
        } => {
            let draft = ArtifactDraft {
                kind,
                content: content.read()?,
                metadata,
            };
            let handle = handle(&id, &agent)?;
            let artifact = match key.as_deref() {
                Some(key) => {
                    let info = handle.perform(Some(key), &Operation::PutArtifact(draft))?;
                    stored_artifact(&host, &id, info.last_seq)?
                }
                None => handle.put_artifact(&draft)?,
            };
            out.value(artifact_json(&artifact), &artifact_header(&artifact));
        }
        Command::Artifacts { id, agent, reader } => match (agent, reader) {
            (Some(agent), Some(reader)) => out.slot(
                &handle(&id, &reader)?
                    .read_slot(&agent)
                    .with_context(|| format!("reading the slot of {agent}"))?,
            ),
            (Some(agent), None) => {
                let slot = host
                    .slots(&id)?
                    .into_iter()
                    .find(|s| s.agent == agent)
                    .ok_or_else(|| anyhow!("not found: {agent} has no slot in arena {id}"))?;
                out.slot(&slot);
            }
            (None, Some(reader)) => {
                for slot in handle(&id, &reader)?.list_slots()? {
                    out.slot_info(&slot);
                }
            }
            (None, None) => {
                for slot in host.slots(&id)? {
                    out.slot_info(&SlotInfo {
                        agent: slot.agent,
                        status: slot.status,
                        artifacts: slot.artifacts.into_iter().map(|a| a.id).collect(),
                    });
                }
            }
        },
        Command::Slot { id, status, agent } => {
            let status = SlotStatus::from(status);
            act(&id, &agent, Operation::SetSlotStatus(status))?;
            let name = slot_status_name(status);
            out.value(
                json!({ "agent": agent, "status": name }),
                &format!("slot of {agent}: {name}"),
            );
        }
        Command::Merge {
            id,
            sources,
            content,
            kind,
            metadata,
            agent,
        } => {
            let request = MergeRequest {
                kind,
                content: content.read()?,
                sources,
                metadata,
            };
            let handle = handle(&id, &agent)?;
            let artifact = match key.as_deref() {
                Some(key) => {
                    let info = handle.perform(Some(key), &Operation::Merge(request))?;
                    stored_artifact(&host, &id, info.last_seq)?
                }
                None => handle.merge(&request)?,
            };
            out.value(artifact_json(&artifact), &artifact_header(&artifact));
        }
        Command::Fact {
            id,
            content,
            confidence,
            tags,
            agent,
        } => {
            let draft = FactDraft {
                content,
                confidence,
                tags,
            };
            let handle = handle(&id, &agent)?;
            let fact = match key.as_deref() {
                Some(key) => {
                    let info = handle.perform(Some(key), &Operation::AddFact(draft))?;
                    let fact_id = format!("fact-{}", info.last_seq);
                    host.all_facts(
                        Some(&id),
                        &FactQuery {
                            tag: None,
                            text: None,
                        },
                    )?
                    .into_iter()
                    .find(|f| f.id == fact_id)
                    .ok_or_else(|| anyhow!("fact {fact_id} of arena {id} not found"))?
                }
                None => handle.add_fact(&draft)?,
            };
            out.value(fact_json(&fact), &fact_header(&fact));
        }
        Command::Facts { id, tag, text } => {
            for fact in host.all_facts(id.as_deref(), &FactQuery { tag, text })? {
                if out.json {
                    println!("{}", fact_json(&fact));
                } else {
                    // Across arenas each fact names its arena.
                    let arena = if id.is_none() {
                        format!("{} ", fact.arena)
                    } else {
                        String::new()
                    };
                    println!("{arena}{}", fact_header(&fact));
                    println!("{}", quoted(&fact.content));
                }
            }
        }
        Command::Run { manifest } => {
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading manifest {}", manifest.display()))?;
            let parsed =
                Manifest::parse(&text).with_context(|| format!("in {}", manifest.display()))?;
            let base = manifest.parent().unwrap_or(std::path::Path::new("."));
            run_manifest(&host, &parsed, base, &out)?;
        }
        Command::Bench { .. } => unreachable!("handled before the database is opened"),
        Command::Demo => {
            if !out.json {
                println!(
                    "running the sample plugins in {} as a three-stage pipeline: ada drafts, bob \
                     reviews her drafts, cy signs off on both; lead merges and archives; eve watches\n",
                    host.location()
                );
            }
            run_manifest(
                &host,
                &Manifest::parse(run::DEMO_MANIFEST)?,
                std::path::Path::new("."),
                &out,
            )?;
        }
    }
    Ok(())
}

/// Parses `AGENT:ROLE` or `AGENT:ROLE:PERM,PERM` (agent ids may themselves contain colons).
fn parse_participant(text: &str) -> Result<ParticipantSpec> {
    let parts: Vec<&str> = text.rsplitn(3, ':').collect();
    let (agent, role, permissions) = match parts.as_slice() {
        [last, middle, first] if parse_role(middle).is_some() => {
            (first.to_string(), *middle, Some(*last))
        }
        [role, agent_tail, agent_head] => (format!("{agent_head}:{agent_tail}"), *role, None),
        [role, agent] => (agent.to_string(), *role, None),
        _ => bail!("participant {text:?} is not AGENT:ROLE"),
    };
    let role = parse_role(role).ok_or_else(|| {
        anyhow!("unknown role {role:?} in {text:?} (coordinator, worker or observer)")
    })?;
    let permissions = permissions
        .map(|list| {
            list.split(',')
                .map(|name| {
                    PERMISSIONS
                        .into_iter()
                        .find(|p| permission_name(*p) == name)
                        .ok_or_else(|| anyhow!("unknown permission {name:?} in {text:?}"))
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
fn parse_stage(text: &str) -> Result<Stage, String> {
    let mut parts = text.splitn(3, ':');
    let agent = parts.next().unwrap_or_default();
    let steps = parts.next().ok_or_else(|| {
        format!("stage {text:?} is not AGENT:STEPS[:DEPENDS,...] (e.g. drafter:1-2)")
    })?;
    if agent.is_empty() {
        return Err(format!("stage {text:?} names no agent"));
    }
    if steps.is_empty() {
        return Err(format!("stage {text:?} owns no steps"));
    }
    let steps = arena_host::parse_steps(steps).map_err(|e| format!("stage {text:?}: {e}"))?;
    let depends_on = match parts.next() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|agent| {
                if agent.is_empty() {
                    Err(format!(
                        "stage {text:?}: an empty agent among its dependencies"
                    ))
                } else {
                    Ok(agent.to_string())
                }
            })
            .collect::<Result<Vec<_>, String>>()?,
    };
    Ok(Stage {
        agent: agent.to_string(),
        steps,
        depends_on,
    })
}

/// Parses metadata `KEY=VALUE` (the value may contain `=`).
fn parse_meta(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("metadata {text:?} is not KEY=VALUE"))
}

/// The artifact stored by event `seq` of `arena`.
fn stored_artifact(host: &ArenaHost, arena: &str, seq: u64) -> Result<Artifact> {
    let id = format!("art-{seq}");
    host.slots(arena)?
        .into_iter()
        .flat_map(|slot| slot.artifacts)
        .find(|a| a.id == id)
        .ok_or_else(|| anyhow!("artifact {id} of arena {arena} not found"))
}

struct Output {
    json: bool,
}

impl Output {
    fn value(&self, json: Value, text: &str) {
        if self.json {
            println!("{json}");
        } else {
            println!("{text}");
        }
    }

    fn status(&self, status: arena_host::types::ArenaStatus) {
        self.value(
            json!({ "status": status_name(status) }),
            status_name(status),
        );
    }

    /// The status after archiving (or aborting), then what the arena kept.
    fn archived(&self, host: &ArenaHost, info: ArenaInfo) -> Result<()> {
        let report = match info.report {
            Some(report) => Some(report),
            None => host.get(&info.id)?.report,
        };
        let status = status_name(info.status);
        if self.json {
            println!(
                "{}",
                json!({ "status": status, "report": report.as_ref().map(report_json) })
            );
        } else {
            println!("{status}");
            if let Some(report) = &report {
                println!("{}", report_text(report));
            }
        }
        Ok(())
    }

    /// A slot with its artifacts, content included.
    fn slot(&self, slot: &Slot) {
        if self.json {
            println!(
                "{}",
                json!({
                    "agent": slot.agent,
                    "status": slot_status_name(slot.status),
                    "artifacts": slot.artifacts.iter().map(artifact_json).collect::<Vec<_>>(),
                })
            );
            return;
        }
        println!(
            "{}  {}  {}",
            slot.agent,
            slot_status_name(slot.status),
            plural(slot.artifacts.len() as u64, "artifact")
        );
        for artifact in &slot.artifacts {
            println!("{}", artifact_header(artifact));
            println!("{}", quoted(&artifact.content));
        }
    }

    /// A slot without content: owner, status, artifact ids.
    fn slot_info(&self, slot: &SlotInfo) {
        self.value(
            json!({
                "agent": slot.agent,
                "status": slot_status_name(slot.status),
                "artifacts": slot.artifacts,
            }),
            &format!(
                "{}  {}  {}",
                slot.agent,
                slot_status_name(slot.status),
                if slot.artifacts.is_empty() {
                    "-".to_string()
                } else {
                    slot.artifacts.join(",")
                }
            ),
        );
    }

    fn turn(&self, turn: &TurnReport) {
        let (outcome, text) = match &turn.outcome {
            TurnOutcome::Done(report) => ("done", report.clone()),
            TurnOutcome::Failed(error) => ("failed", error.clone()),
            TurnOutcome::Stopped(error) => ("stopped", error.to_string()),
        };
        if self.json {
            println!(
                "{}",
                json!({ "turn": turn.turn, "agent": turn.agent, "plugin": turn.plugin, "outcome": outcome, "report": text, "output": turn.output, "fuel": turn.fuel })
            );
            return;
        }
        let marker = match outcome {
            "done" => "",
            "failed" => "error: ",
            _ => "STOPPED: ",
        };
        println!("turn {:<3} {:<8} {marker}{text}", turn.turn, turn.agent);
        for line in turn.output.lines() {
            println!("           | {line}");
        }
    }

    fn events(&self, events: &[Event]) {
        for event in events {
            if self.json {
                println!("{}", event_json(event));
            } else {
                println!("{}", event_text(event));
            }
        }
    }
}

fn permissions_text(permissions: &[Permission]) -> String {
    permissions
        .iter()
        .map(|p| permission_name(*p))
        .collect::<Vec<_>>()
        .join(",")
}

fn participant_json(p: &Participant) -> Value {
    json!({
        "agent": p.agent,
        "role": role_name(p.role),
        "permissions": p.permissions.iter().map(|p| permission_name(*p)).collect::<Vec<_>>(),
    })
}

fn participant_text(p: &Participant) -> String {
    format!(
        "{}  {}  {}",
        p.agent,
        role_name(p.role),
        permissions_text(&p.permissions)
    )
}

fn strategy_json(strategy: &Strategy) -> Value {
    match strategy {
        Strategy::Peer(coordinator) => json!({ "peer": coordinator }),
        Strategy::Pipeline(p) => json!({ "pipeline": {
            "coordinator": p.coordinator,
            "stages": p.stages.iter().map(|s| json!({
                "agent": s.agent,
                "steps": s.steps.iter().map(|r| json!({ "first": r.first, "last": r.last })).collect::<Vec<_>>(),
                "depends-on": s.depends_on,
            })).collect::<Vec<_>>(),
        }}),
    }
}

fn strategy_text(strategy: &Strategy) -> String {
    match strategy {
        Strategy::Peer(coordinator) => format!("peer, coordinated by {coordinator}"),
        Strategy::Pipeline(p) => {
            let stages: Vec<String> = p
                .stages
                .iter()
                .map(|s| {
                    let steps: Vec<String> = s
                        .steps
                        .iter()
                        .map(|r| {
                            if r.first == r.last {
                                r.first.to_string()
                            } else {
                                format!("{}-{}", r.first, r.last)
                            }
                        })
                        .collect();
                    let mut text = format!("{}:{}", s.agent, steps.join(","));
                    if !s.depends_on.is_empty() {
                        text.push_str(&format!(" after {}", s.depends_on.join(",")));
                    }
                    text
                })
                .collect();
            format!(
                "pipeline, coordinated by {}; stages {}",
                p.coordinator,
                stages.join("; ")
            )
        }
    }
}

fn slot_status_name(status: SlotStatus) -> &'static str {
    match status {
        SlotStatus::Idle => "idle",
        SlotStatus::Working => "working",
        SlotStatus::Done => "done",
        SlotStatus::Failed => "failed",
    }
}

/// `1 artifact`, `2 artifacts`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Content as an indented block, each line after `  | `.
fn quoted(content: &str) -> String {
    content
        .lines()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn metadata_json(metadata: &[(String, String)]) -> Value {
    Value::Object(
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn artifact_json(a: &Artifact) -> Value {
    json!({
        "id": a.id,
        "author": a.author,
        "kind": a.kind,
        "content": a.content,
        "metadata": metadata_json(&a.metadata),
        "sources": a.sources,
        "created-at": a.created_at,
        "seq": a.seq,
    })
}

/// `ID KIND by AUTHOR at CREATED-AT[ from SRC,...]`, then a `  meta KEY=VALUE` line per metadata entry.
fn artifact_header(a: &Artifact) -> String {
    let mut text = format!("{} {} by {} at {}", a.id, a.kind, a.author, a.created_at);
    if !a.sources.is_empty() {
        text.push_str(&format!(" from {}", a.sources.join(",")));
    }
    for (key, value) in &a.metadata {
        text.push_str(&format!("\n  meta {key}={value}"));
    }
    text
}

fn fact_json(f: &Fact) -> Value {
    json!({
        "id": f.id,
        "arena": f.arena,
        "content": f.content,
        "confidence": f.confidence,
        "tags": f.tags,
        "source": f.source,
        "created-at": f.created_at,
        "seq": f.seq,
    })
}

/// `ID by SOURCE at CREATED-AT, confidence X[, tags T,...]`.
fn fact_header(f: &Fact) -> String {
    let mut text = format!(
        "{} by {} at {}, confidence {}",
        f.id, f.source, f.created_at, f.confidence
    );
    if !f.tags.is_empty() {
        text.push_str(&format!(", tags {}", f.tags.join(",")));
    }
    text
}

fn report_json(r: &SettleReport) -> Value {
    json!({
        "outcome": outcome_text(&r.outcome),
        "completed-steps": r.completed_steps,
        "total-steps": r.total_steps,
        "facts": r.facts,
        "artifacts": r.artifacts,
        "merges": r.merges,
        "events": r.events,
        "contributions": r.contributions.iter().map(|c| json!({
            "agent": c.agent, "steps": c.steps, "artifacts": c.artifacts, "facts": c.facts,
        })).collect::<Vec<_>>(),
    })
}

fn report_text(r: &SettleReport) -> String {
    let mut text = format!(
        "report\n  outcome    {}\n  steps      {}/{} complete\n  facts      {}\n  artifacts  {} ({})\n  events     {}\n  contributions",
        outcome_text(&r.outcome),
        r.completed_steps,
        r.total_steps,
        r.facts,
        r.artifacts,
        plural(r.merges.into(), "merge"),
        r.events,
    );
    for c in &r.contributions {
        text.push_str(&format!(
            "\n    {}  {}, {}, {}",
            c.agent,
            plural(c.steps.into(), "step"),
            plural(c.artifacts.into(), "artifact"),
            plural(c.facts.into(), "fact")
        ));
    }
    text
}

fn info_json(info: &ArenaInfo) -> Value {
    json!({
        "id": info.id,
        "goal": info.goal,
        "status": status_name(info.status),
        "outcome": info.outcome.as_ref().map(outcome_text),
        "strategy": strategy_json(&info.strategy),
        "participants": info.participants.iter().map(participant_json).collect::<Vec<_>>(),
        "aggregate": {
            "completed-steps": info.aggregate.completed_steps,
            "total-steps": info.aggregate.total_steps,
            "participants": info.aggregate.participants,
            "progress": info.aggregate.progress.iter().map(|p| json!({
                "agent": p.agent, "steps-completed": p.steps_completed, "note": p.note,
            })).collect::<Vec<_>>(),
        },
        "created-by": info.created_by,
        "created-at": info.created_at,
        "last-seq": info.last_seq,
        "report": info.report.as_ref().map(report_json),
    })
}

fn info_text(info: &ArenaInfo) -> String {
    let mut text = format!(
        "arena     {}\ngoal      {}\nstatus    {}{}\nstrategy  {}\ncreated   {} by {}\nsteps     {}/{} complete\nevents    {}\nparticipants\n",
        info.id,
        info.goal,
        status_name(info.status),
        info.outcome
            .as_ref()
            .map(|o| format!(" ({})", outcome_text(o)))
            .unwrap_or_default(),
        strategy_text(&info.strategy),
        info.created_at,
        info.created_by,
        info.aggregate.completed_steps,
        info.aggregate.total_steps,
        info.last_seq,
    );
    for p in &info.participants {
        text.push_str(&format!("  {}\n", participant_text(p)));
    }
    text.push_str("progress");
    for p in &info.aggregate.progress {
        text.push_str(&format!(
            "\n  {}  {} steps{}",
            p.agent,
            p.steps_completed,
            p.note
                .as_ref()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default()
        ));
    }
    if let Some(report) = &info.report {
        text.push('\n');
        text.push_str(&report_text(report));
    }
    text
}

fn event_json(event: &Event) -> Value {
    json!({
        "seq": event.seq,
        "ts": event.at,
        "actor": event.actor,
        "kind": event.kind,
        "payload": serde_json::from_str::<Value>(&event.payload).unwrap_or_else(|_| Value::String(event.payload.clone())),
        "hash": event.hash,
    })
}

fn event_text(event: &Event) -> String {
    format!(
        "#{:<4} {}  {:<12} {:<18} {}",
        event.seq, event.at, event.actor, event.kind, event.payload
    )
}

/// Runs a manifest and prints every turn, then the arena's events and its verification.
fn run_manifest(
    host: &ArenaHost,
    manifest: &Manifest,
    base: &std::path::Path,
    out: &Output,
) -> Result<()> {
    let engine = PluginEngine::new()?;
    let summary = run::run(host, &engine, manifest, base, |turn| out.turn(turn))?;
    let id = &summary.arena;
    if !out.json {
        println!("\nevents of arena {id}:");
    }
    out.events(&host.all_events(id, 0)?);
    let report = host.verify(id)?;
    if let Some(problem) = report.problem {
        bail!("arena {id} failed verification: {problem}");
    }
    if out.json {
        println!(
            "{}",
            json!({ "arena": id, "rounds": summary.rounds, "status": status_name(summary.status), "stopped": summary.stopped, "verified-events": report.events })
        );
    } else {
        println!(
            "\nverify: {} events, hash chain intact, replay matches the stored state\n\n{}",
            report.events,
            info_text(&host.get(id)?)
        );
        if !summary.stopped.is_empty() {
            println!("stopped plugins: {}", summary.stopped.join(", "));
        }
    }
    if summary.status != arena_host::types::ArenaStatus::Archived {
        eprintln!(
            "note: the arena is still {} after {} rounds",
            status_name(summary.status),
            summary.rounds
        );
    }
    Ok(())
}
