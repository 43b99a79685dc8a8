//! One random operation at a time: chosen, predicted by the model, run through the host (with a
//! fault armed now and then), and its answer checked.

use arena_host::types::{ArenaConfig, ArenaStatus};
use arena_host::{Operation, operation_permission};

use super::faults::Fault;
use super::{AGENTS, Fuzz, UNKNOWN, fault_name, injected, refusal, refused_by_storage};

impl Fuzz {
    /// Runs `n` operations, comparing every arena in full now and then.
    pub(crate) fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.ops += 1;
            // With faults, a host that has just opened now and then: its component holds no arena
            // yet, so operations load theirs (snapshot and events) through the faulty storage.
            if self.plan.is_some() && self.ops.is_multiple_of(40) {
                self.host = super::open(&self.path, self.plan.clone());
            }
            let create = if self.live().len() < 3 { 30 } else { 4 };
            if self.rng.chance(create) {
                self.create();
            } else {
                self.perform();
            }
            // Every arena's count is read with each full comparison while there are few.
            let every = if self.model.arenas.len() < 2000 {
                200
            } else {
                20_000
            };
            if self.ops.is_multiple_of(200) {
                self.compare_touched(self.ops.is_multiple_of(every));
            }
        }
    }

    /// Arms a fault for the next operation, now and then; `after_commit` says whether a lost answer
    /// may be injected (only where a retry can ask for it).
    fn arm(&mut self, after_commit: bool) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        if !self.rng.chance(15) {
            return;
        }
        let fault = match self.rng.below(20) {
            0..=7 => Fault::Read {
                nth: 1 + self.rng.below(3) as u32,
            },
            8..=9 => Fault::Malformed {
                nth: 1 + self.rng.below(2) as u32,
            },
            10..=11 => Fault::AppendBefore,
            12..=16 if after_commit => Fault::AppendAfter,
            12..=16 => Fault::AppendBefore,
            _ => Fault::Conflict,
        };
        plan.arm(fault);
    }

    /// The fault that fired during the last operation, counted.
    fn fired(&mut self) -> Option<Fault> {
        let fired = self.plan.as_ref().and_then(|plan| plan.disarm())?;
        *self
            .stats
            .faults
            .entry(fault_name(fired).to_string())
            .or_default() += 1;
        Some(fired)
    }

    fn create(&mut self) {
        let creator_keys = ["ck0", "ck1", "ck2"];
        let key = self
            .rng
            .chance(40)
            .then(|| self.rng.pick(&creator_keys).to_string());
        let mut config = self.config();
        if let Some(k) = &key
            && self.rng.chance(50)
            && let Some((first, _)) = self
                .model
                .created
                .get(&(config.created_by.clone(), k.clone()))
        {
            config = first.clone();
        }
        let expected = self.model.create(&config, key.as_deref());
        self.arm(key.is_some());
        let result = match &key {
            Some(k) => self.host.create_keyed(&config, k),
            None => self.host.create(&config),
        };
        match self.fired() {
            Some(fault @ (Fault::Read { .. } | Fault::Malformed { .. } | Fault::AppendBefore)) => {
                if !refused_by_storage(fault, &result) {
                    self.fail(format!("create under a storage fault answered {result:?}"));
                }
                self.compare_count();
                return;
            }
            Some(Fault::AppendAfter) => {
                if !injected(&result) || expected != Ok(None) {
                    self.fail(format!(
                        "create with a lost answer: {result:?}, {expected:?}"
                    ));
                }
                // The arena was created; asking again with the key reports it.
                let k = key.as_deref().expect("only keyed creations lose answers");
                match self.host.create_keyed(&config, k) {
                    Ok(id) => self.created(&id, &config, key.as_deref()),
                    Err(e) => self.fail(format!("a keyed create retried after a lost answer: {e}")),
                }
                self.stats.retried_keys += 1;
                return;
            }
            _ => {}
        }
        match (expected, result) {
            (Ok(Some(first)), Ok(id)) if id == first => {
                self.stats.retried_keys += 1;
                self.compare(&id);
            }
            (Ok(None), Ok(id)) if !self.model.arenas.contains_key(&id) => {
                self.created(&id, &config, key.as_deref());
            }
            (Err(r), Err(e)) if refusal(&e).as_ref() == Some(&r) => {
                self.stats.refused += 1;
            }
            (expected, result) => self.fail(format!(
                "create {config:?} with key {key:?}: expected {expected:?}, got {result:?}"
            )),
        }
    }

    fn created(&mut self, id: &str, config: &ArenaConfig, key: Option<&str>) {
        self.stats.accepted += 1;
        self.touched.insert(id.to_string());
        self.model.created(id, config, key);
        self.compare(id);
        self.compare_count();
    }

    fn perform(&mut self) {
        let arena = match self.rng.below(40) {
            0 => UNKNOWN.to_string(),
            1 => "not-an-arena".to_string(),
            _ => match self.live_arena() {
                Some(id) => id,
                None => return self.create(),
            },
        };
        let status = self.model.arenas.get(&arena).map(|a| a.status);
        let mut op = match status {
            Some(ArenaStatus::Created) if self.rng.chance(30) => Operation::Activate,
            _ => self.operation(Some(&arena)),
        };
        // Mostly a participant holding the operation's permission; now and then anyone.
        let permitted: Vec<String> = self
            .model
            .arenas
            .get(&arena)
            .map(|a| a.holding(operation_permission(&op)))
            .unwrap_or_default();
        let actor = match self.rng.below(100) {
            0 => String::new(),
            1 => "a".repeat(129),
            2..=74 if !permitted.is_empty() => self.rng.pick(&permitted).clone(),
            _ => self.rng.pick(AGENTS).to_string(),
        };
        let key = match self.rng.below(100) {
            0 => Some(String::new()),
            1 => Some("k".repeat(129)),
            2..=21 => Some(format!("u{}", self.ops)),
            22..=41 => Some(self.rng.pick(&["k0", "k1", "k2", "k3"]).to_string()),
            _ => None,
        };
        let remembered = key.as_ref().and_then(|k| {
            let arena = self.model.arenas.get(&arena)?;
            arena.keys.get(&(actor.clone(), k.clone()))?.0.clone()
        });
        if let Some(first) = remembered
            && self.rng.chance(60)
        {
            op = first;
        }
        self.touched.insert(arena.clone());
        let before = self.model.arenas.get(&arena).cloned();
        let expected = self.model.perform(&arena, &actor, key.as_deref(), &op);
        self.arm(true);
        let handle = self
            .host
            .handle_with_grant(&arena, &actor, all_permissions());
        let result = handle.perform(key.as_deref(), &op);
        let context = || format!("{op:?} by {actor:?} on {arena} with key {key:?}");
        match self.fired() {
            Some(fault @ (Fault::Read { .. } | Fault::Malformed { .. } | Fault::AppendBefore)) => {
                if !refused_by_storage(fault, &result) {
                    self.fail(format!("{} under a storage fault: {result:?}", context()));
                }
                // Nothing changed: the model goes back to where it was.
                if let Some(before) = before {
                    self.model.arenas.insert(arena.clone(), before);
                    self.compare(&arena);
                }
                return;
            }
            Some(Fault::AppendAfter) => {
                if !injected(&result) || expected != Ok(None) {
                    self.fail(format!(
                        "{} with a lost answer: {result:?}, expected {expected:?}",
                        context()
                    ));
                }
                // Committed whole: the arena is exactly the model's after the operation.
                self.compare(&arena);
                if let Some(k) = &key {
                    let seq = self.model.arenas[&arena].last_seq;
                    match handle.perform(Some(k), &op) {
                        Ok(info) if info.last_seq == seq => self.stats.retried_keys += 1,
                        other => self.fail(format!(
                            "{} retried after a lost answer: {other:?}, expected event {seq}",
                            context()
                        )),
                    }
                    self.compare(&arena);
                }
                return;
            }
            _ => {}
        }
        match (&expected, &result) {
            (Ok(None), Ok(info)) => {
                let model = &self.model.arenas[&arena];
                if info.last_seq != model.last_seq || info.status != model.status {
                    self.fail(format!("{}: answered {info:?}, model {model:?}", context()));
                }
                self.stats.accepted += 1;
            }
            (Ok(Some(seq)), Ok(info)) if info.last_seq == *seq => self.stats.retried_keys += 1,
            (Err(r), Err(e)) if refusal(e).as_ref() == Some(r) => {
                self.stats.refused += 1;
                let kind = format!("{r:?}");
                let kind = kind.split('(').next().unwrap_or_default().to_string();
                *self.stats.refusals.entry(kind).or_default() += 1;
            }
            _ => self.fail(format!(
                "{}: expected {expected:?}, got {result:?}",
                context()
            )),
        }
        if self.model.arenas.contains_key(&arena) {
            self.compare(&arena);
        }
    }
}

fn all_permissions() -> Vec<arena_host::types::Permission> {
    use arena_host::types::Permission::*;
    vec![
        Observe, ReadSlots, Contribute, ShareFacts, Steer, Coordinate,
    ]
}
