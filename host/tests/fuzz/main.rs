//! A fuzzer at the boundary: random operations — valid, refused and malformed — driven through the
//! real arena component in the real host, on SQLite in a temporary folder, each checked against a
//! reference model ([`model`]); then every arena is verified and replayed. With faults ([`faults`]),
//! storage fails reads and appends at random: an operation that errored changed nothing it did not
//! then report, nothing acknowledged is lost, and the host keeps working.
//!
//! The seed is printed; `FUZZ_SEED=N` replays a run, `FUZZ_OPS=N` sets the length of the long one.

mod check;
mod faults;
mod model;
mod run;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arena_host::db::{self, Durability, Location};
use arena_host::types::{
    ArenaConfig, ArenaError, ArtifactDraft, FactDraft, FactQuery, MergeRequest, ParticipantSpec,
    Permission, Role, SlotStatus, Strategy,
};
use arena_host::{ArenaHost, GroupCommit, HostError, HostOptions, Operation};

use faults::{Fault, Faulty, INJECTED, Plan};
use model::{Model, Refusal};

/// A small, seeded random number generator (SplitMix64): runs replay from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The agents operations act as: `x` and `n*` are never declared at creation.
const AGENTS: &[&str] = &["lead", "c2", "w1", "w2", "o1", "n1", "n2", "x"];
/// How many of the latest arenas most operations choose from.
const RECENT: usize = 12;
/// A canonical UUID no arena has.
const UNKNOWN: &str = "0192f0c8-7c1a-7c3e-8a4b-1234567890ab";

/// The seed from `FUZZ_SEED`, else from the clock.
fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// What a run counted.
#[derive(Default, Debug)]
struct Stats {
    accepted: u64,
    refused: u64,
    retried_keys: u64,
    refusals: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
}

struct Fuzz {
    host: ArenaHost,
    path: std::path::PathBuf,
    plan: Option<Arc<Plan>>,
    model: Model,
    rng: Rng,
    seed: u64,
    ops: u64,
    stats: Stats,
    /// Arenas operated on since the last full comparison.
    touched: std::collections::BTreeSet<String>,
}

/// A host on `path`, its storage wrapped in [`Faulty`] when `plan` is given.
fn open(path: &Path, plan: Option<Arc<Plan>>) -> ArenaHost {
    let options = HostOptions {
        group_commit: GroupCommit::Off,
        component_cache: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..HostOptions::default()
    };
    let location = Location::Sqlite(path.to_path_buf());
    match plan {
        None => ArenaHost::open_at(location, options),
        Some(plan) => {
            let at = location.clone();
            ArenaHost::open_with_backend(location, options, move || {
                let inner = db::open(&at, Durability::Normal)?;
                let plan = plan.clone();
                Ok(Box::new(Faulty { inner, plan }))
            })
        }
    }
    .expect("open the host")
}

impl Fuzz {
    fn new(dir: &Path, faults: bool) -> Fuzz {
        let seed = seed();
        println!("fuzz seed {seed} (rerun with FUZZ_SEED={seed})");
        let path = dir.join("fuzz.db");
        let plan = faults.then(|| Arc::new(Plan::default()));
        Fuzz {
            host: open(&path, plan.clone()),
            path,
            plan,
            model: Model::default(),
            rng: Rng(seed),
            seed,
            ops: 0,
            stats: Stats::default(),
            touched: Default::default(),
        }
    }

    /// Fails the test, naming the seed and the operation.
    fn fail(&self, what: String) -> ! {
        panic!(
            "fuzz seed {} (rerun with FUZZ_SEED={}), operation {}: {what}",
            self.seed, self.seed, self.ops
        )
    }

    /// Text for a field of `max` bytes: mostly valid, sometimes too long, blank, or with a control
    /// character, sometimes exactly `max` bytes.
    fn text(&mut self, what: &str, max: usize) -> String {
        match self.rng.below(100) {
            0..=84 => format!("{what} {} ünïcödé", self.rng.below(1000)),
            85..=89 => "é".repeat(max / 2) + "x",
            90..=93 => " \t ".into(),
            94..=96 => format!("{what}\u{7}"),
            _ => "ß".repeat(max / 2),
        }
    }

    /// The most recent arenas that are not archived: where most operations go. Only a window of
    /// recent ones is looked at, so a long run costs the same per operation throughout.
    fn live(&self) -> Vec<String> {
        let ids = &self.model.ids;
        ids[ids.len().saturating_sub(RECENT)..]
            .iter()
            .filter(|id| self.model.arenas[*id].status != arena_host::types::ArenaStatus::Archived)
            .cloned()
            .collect()
    }

    /// Mostly a recent live arena, now and then any arena (archived ones included).
    fn live_arena(&mut self) -> Option<String> {
        let live = self.live();
        if !live.is_empty() && self.rng.chance(93) {
            return Some(self.rng.pick(&live).clone());
        }
        let ids = self.model.ids.clone();
        (!ids.is_empty()).then(|| self.rng.pick(&ids).clone())
    }

    fn config(&mut self) -> ArenaConfig {
        let spec = |agent: &str, role| ParticipantSpec {
            agent: agent.into(),
            role,
            permissions: None,
        };
        let mut participants = vec![spec("lead", Role::Coordinator)];
        for (agent, role) in [
            ("c2", Role::Coordinator),
            ("w1", Role::Worker),
            ("w2", Role::Worker),
            ("o1", Role::Observer),
        ] {
            if self.rng.chance(70) {
                participants.push(spec(agent, role));
            }
        }
        let mut config = ArenaConfig {
            goal: format!("goal {}", self.rng.below(4)),
            total_steps: 1 + self.rng.below(6) as u32,
            strategy: Strategy::Peer("lead".into()),
            participants,
            created_by: self.rng.pick(&["op", "op2"]).to_string(),
        };
        if self.rng.chance(12) {
            match self.rng.below(7) {
                0 => config.goal = "  ".into(),
                1 => config.goal = "g".repeat(4097),
                2 => config.total_steps = 0,
                3 => config.total_steps = 100_001,
                4 => config.participants.push(spec("lead", Role::Worker)),
                5 => config.strategy = Strategy::Peer("w1".into()),
                _ => config.created_by = String::new(),
            }
        }
        config
    }

    fn participant(&mut self) -> ParticipantSpec {
        let agent = match self.rng.below(20) {
            0 => String::new(),
            1 => "a".repeat(129),
            _ => self.rng.pick(&["n1", "n2", "w1", "c2", "x"]).to_string(),
        };
        let role = *self
            .rng
            .pick(&[Role::Coordinator, Role::Worker, Role::Observer]);
        let all = [
            Permission::Observe,
            Permission::ReadSlots,
            Permission::Contribute,
            Permission::ShareFacts,
            Permission::Steer,
            Permission::Coordinate,
        ];
        let permissions = self.rng.chance(30).then(|| {
            all.iter()
                .copied()
                .filter(|_| self.rng.chance(40))
                .collect()
        });
        ParticipantSpec {
            agent,
            role,
            permissions,
        }
    }

    fn draft(&mut self) -> ArtifactDraft {
        let kind = self
            .rng
            .pick(&["text", "code", "structured", "Bad Kind", &"k".repeat(33)])
            .to_string();
        let content = match self.rng.below(20) {
            0 => "c".repeat((64 << 10) + 1),
            1 => " ".into(),
            2..=5 => r#"{"ok": true}"#.into(),
            _ => format!("content {}", self.rng.below(1000)),
        };
        let metadata = if self.rng.chance(30) {
            vec![("source".into(), "fuzz".into())]
        } else {
            Vec::new()
        };
        ArtifactDraft {
            kind,
            content,
            metadata,
        }
    }

    fn operation(&mut self, arena: Option<&str>) -> Operation {
        let known = arena.and_then(|id| self.model.arenas.get(id)).cloned();
        let total = known.as_ref().map_or(3, |a| a.total);
        match self.rng.below(21) {
            0 => Operation::Leave,
            1..=4 => Operation::CompleteStep(self.rng.below(u64::from(total) + 2) as u32),
            5 | 6 => Operation::ReportProgress(self.text("note", 4096)),
            7 => Operation::UpdateGoal(self.text("goal", 4096)),
            8 | 9 => Operation::Activate,
            10 => Operation::Settle,
            11 => Operation::Archive,
            12 => Operation::Abort(self.text("reason", 1024)),
            13 => Operation::Invite(self.participant()),
            14 | 15 => Operation::PutArtifact(self.draft()),
            16 | 17 => Operation::SetSlotStatus(*self.rng.pick(&[
                SlotStatus::Idle,
                SlotStatus::Working,
                SlotStatus::Done,
                SlotStatus::Failed,
            ])),
            18 => {
                let stored: Vec<String> = known
                    .map(|a| a.artifacts.into_iter().collect())
                    .unwrap_or_default();
                let mut sources: Vec<String> = match self.rng.below(10) {
                    0 => Vec::new(),
                    1 => vec!["art-999999".into()],
                    _ if stored.is_empty() => vec!["art-1".into()],
                    _ => vec![self.rng.pick(&stored).clone()],
                };
                if self.rng.chance(10)
                    && let Some(first) = sources.first().cloned()
                {
                    sources.push(first);
                }
                let draft = self.draft();
                Operation::Merge(MergeRequest {
                    kind: draft.kind,
                    content: draft.content,
                    sources,
                    metadata: draft.metadata,
                })
            }
            _ => {
                let tags = match self.rng.below(10) {
                    0 => (0..9).map(|i| format!("t{i}")).collect(),
                    1 => vec!["dup".into(), "dup".into()],
                    2 => vec![" padded".into()],
                    _ => vec![self.rng.pick(&["reef", "fish", "tide"]).to_string()],
                };
                let confidence = match self.rng.below(12) {
                    0 => f64::NAN,
                    1 => 1.5,
                    _ => self.rng.below(101) as f64 / 100.0,
                };
                Operation::AddFact(FactDraft {
                    content: self.text("fact", 4096),
                    confidence,
                    tags,
                })
            }
        }
    }
}

/// A few thousand operations against the model, no faults.
#[test]
fn random_operations_match_the_model_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut fuzz = Fuzz::new(dir.path(), false);
    fuzz.run(3000);
    fuzz.finish();
}

/// A few thousand operations while storage fails reads and appends at random.
#[test]
fn storage_faults_lose_nothing_acknowledged_and_report_what_they_changed() {
    let dir = tempfile::tempdir().unwrap();
    let mut fuzz = Fuzz::new(dir.path(), true);
    fuzz.run(3000);
    fuzz.finish();
    for kind in ["read", "append-before", "append-after", "conflict"] {
        assert!(
            fuzz.stats.faults.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} fault fired: {:?}",
            fuzz.stats
        );
    }
}

/// The long run: a million operations (or `FUZZ_OPS`), faults included, with the count and rate.
#[test]
#[ignore = "a million operations take minutes even in release: \
            cargo test --release -p arena-host --test fuzz -- --ignored"]
fn a_million_operations() {
    let ops: u64 = std::env::var("FUZZ_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let mut fuzz = Fuzz::new(dir.path(), true);
    let started = Instant::now();
    fuzz.run(ops);
    fuzz.finish();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{ops} operations in {seconds:.1} s ({:.0} ops/s): {:?}",
        ops as f64 / seconds,
        fuzz.stats
    );
}

/// Whether `result` is the injected storage error.
fn injected<T>(result: &Result<T, HostError>) -> bool {
    matches!(result, Err(HostError::Arena(ArenaError::Storage(m))) if m.contains(INJECTED))
}

/// Whether `result` is the storage error `fault` should cause: the injected one, or for a
/// malformed page the component's own refusal of it.
fn refused_by_storage<T>(fault: Fault, result: &Result<T, HostError>) -> bool {
    match fault {
        Fault::Malformed { .. } => {
            matches!(result, Err(HostError::Arena(ArenaError::Storage(m))) if !m.contains(INJECTED))
        }
        _ => injected(result),
    }
}

/// The faults a run may arm, by name.
fn fault_name(fault: Fault) -> &'static str {
    match fault {
        Fault::Read { .. } => "read",
        Fault::AppendBefore => "append-before",
        Fault::AppendAfter => "append-after",
        Fault::Conflict => "conflict",
        Fault::Malformed { .. } => "malformed-read",
    }
}

/// A query every fact matches.
fn all_facts() -> FactQuery {
    FactQuery {
        tag: None,
        text: None,
    }
}

/// The model's refusal for a host error, or `None` for errors the model does not predict.
fn refusal(e: &HostError) -> Option<Refusal> {
    e.arena_error().and_then(Refusal::of)
}
